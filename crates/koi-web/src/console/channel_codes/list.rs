//! The list of channel codes with each code's adds so far, and the form
//! under it that creates a code.

use super::form::draft;
use super::{channel_label, editor_choices, pool_names, staff_names, store_names, Choice};
use crate::auth::{Console, ConsoleForm};
use crate::console::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_engine::EngineError;

pub struct CodeRow {
    pub id: i64,
    pub name: String,
    pub channel: &'static str,
    pub store: String,
    pub pool: String,
    pub active: bool,
    pub created: String,
    pub adds: i64,
    pub net: i64,
}

#[derive(Template)]
#[template(path = "channel_codes.html")]
struct ListPage {
    c: Chrome,
    codes: Vec<CodeRow>,
    can_create: bool,
    form: FormView,
    channel_types: Vec<Choice>,
    stores: Vec<Choice>,
    staff: Vec<Choice>,
    routings: Vec<&'static str>,
    /// The catalogue by group, for the auto-tag picker.
    tag_groups: Vec<koi_engine::customers::TagGroupView>,
    /// Coupon templates, for the welcome coupon.
    coupons: Vec<Choice>,
}

async fn list_page(state: &AppState, c: &Console, form: FormView) -> Result<ListPage, Response> {
    let who = c.who();
    let codes = state.engine.channel_codes(who).await.or_page(c)?;
    let totals = state.engine.code_totals(who).await.or_page(c)?;
    let stores = state.engine.stores(who).await.or_page(c)?;
    let staff = if who.allows(Action::ViewStaff) { state.engine.staff_list(who).await.or_page(c)? } else { vec![] };
    let store_names = store_names(&stores);
    let staff_names = staff_names(&staff);
    let rows = codes
        .into_iter()
        .rev()
        .map(|code| {
            let (adds, live) = totals.get(&code.id).copied().unwrap_or((0, 0));
            CodeRow {
                id: code.id,
                channel: channel_label(c, code.draft.channel_type),
                store: code.store_id.and_then(|s| store_names.get(&s).cloned()).unwrap_or_else(|| "—".into()),
                pool: pool_names(&code.draft.pool, &staff_names).join("、"),
                active: code.active,
                created: crate::fmt::datetime(code.created_at),
                adds,
                net: live,
                name: code.name,
            }
        })
        .collect();
    let tags = if who.allows(Action::ViewCustomers) { state.engine.tag_groups(who).await.or_page(c)? } else { vec![] };
    let ch = editor_choices(c, &stores, &staff, tags);
    Ok(ListPage {
        c: Chrome::new(state, c, "channel_codes").await,
        codes: rows,
        can_create: who.allows(Action::CreateStores),
        form,
        channel_types: ch.channel_types,
        stores: ch.stores,
        staff: ch.staff,
        routings: ch.routings,
        tag_groups: ch.tag_groups,
        coupons: super::coupon_choices(state, c).await,
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = list_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match draft(&f) {
        Ok(d) => state.engine.create_channel_code(c.who(), d).await.map_err(WebError::from),
        Err(e) => Err(WebError::Engine(EngineError::Invalid(e))),
    };
    match result {
        Ok(code) => Ok(see_other(&format!("/console/channel-codes/{}?ok=created", code.id))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, form).await?))
        }
    }
}
