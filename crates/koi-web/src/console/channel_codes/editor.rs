//! The page that edits a saved channel code (the list page creates them).

use super::form::{draft, values_of};
use super::{editor_choices, Choice};
use crate::auth::{Console, ConsoleForm};
use crate::console::{error_page, render, render_with, see_other, Chrome, FormView, OrPage, Page};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_engine::EngineError;

#[derive(Template)]
#[template(path = "channel_code_edit.html")]
struct EditPage {
    c: Chrome,
    id: i64,
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

async fn edit_page(state: &AppState, c: &Console, id: i64, form: FormView) -> Result<EditPage, Response> {
    let who = c.who();
    let stores = state.engine.stores(who).await.or_page(c)?;
    let staff = if who.allows(Action::ViewStaff) { state.engine.staff_list(who).await.or_page(c)? } else { vec![] };
    let tags = if who.allows(Action::ViewCustomers) { state.engine.tag_groups(who).await.or_page(c)? } else { vec![] };
    let ch = editor_choices(c, &stores, &staff, tags);
    Ok(EditPage {
        c: Chrome::new(state, c, "channel_codes").await,
        id,
        form,
        channel_types: ch.channel_types,
        stores: ch.stores,
        staff: ch.staff,
        routings: ch.routings,
        tag_groups: ch.tag_groups,
        coupons: super::coupon_choices(state, c).await,
    })
}

pub async fn edit(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let code = state.engine.channel_code(c.who(), id).await.or_page(&c)?;
    Ok(render(&edit_page(&state, &c, id, FormView::of(values_of(&code.draft))).await?))
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match draft(&f) {
        Ok(d) => state.engine.update_channel_code(c.who(), id, d).await.map_err(WebError::from),
        Err(e) => Err(WebError::Engine(EngineError::Invalid(e))),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/console/channel-codes/{id}?ok=saved"))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &edit_page(&state, c, id, form).await?))
        }
    }
}
