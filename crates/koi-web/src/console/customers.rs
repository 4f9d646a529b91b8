//! Customers (客户): who came, through which code and store, to which guide,
//! and who left. One customer's page is `profile.rs`.

use super::channel_codes::Choice;
use super::{render, Chrome, OrPage, Page};
use crate::auth::Console;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use koi_domain::access::Action;
use koi_domain::segment::Stage;
use koi_engine::acquisition::Customer;
use koi_engine::reports::CustomerFilter;
use std::collections::HashMap;

const PER_PAGE: i64 = 50;

/// The list's filters as they arrive in the query string. Anything that is
/// not a number is ignored rather than refused: a hand-edited URL still
/// shows a list.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    code: Option<String>,
    store: Option<String>,
    staff: Option<String>,
    /// `new` or `returning`.
    kind: Option<String>,
    lost: Option<String>,
    /// Name, remark, phone or external id.
    q: Option<String>,
    /// A WeCom tag id.
    tag: Option<String>,
    /// A lifecycle stage (`new`, `stored`, …).
    stage: Option<String>,
    page: Option<String>,
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

fn id(v: &Option<String>) -> Option<i64> {
    v.as_deref().and_then(|s| s.trim().parse().ok())
}

/// A follow as a row: the guide, since when, via which code and store.
pub struct FollowRow {
    pub guide: String,
    pub since: String,
    pub code_id: Option<i64>,
    pub code: String,
    pub store: String,
    pub returning: bool,
    pub lost_at: Option<String>,
    /// `customer`, `staff` or `transfer`.
    pub deleted_by: String,
    pub remark: String,
}

pub struct CustomerRow {
    pub id: i64,
    pub name: String,
    pub avatar: String,
    pub added: String,
    pub follows: Vec<FollowRow>,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct ListPage {
    c: Chrome,
    customers: Vec<CustomerRow>,
    codes: Vec<Choice>,
    stores: Vec<Choice>,
    staff: Vec<Choice>,
    code: String,
    store: String,
    guide: String,
    kind: String,
    lost: bool,
    search: String,
    tags: Vec<koi_engine::customers::TagGroupView>,
    tag: String,
    stages: Vec<Choice>,
    stage: String,
    total: i64,
    page: i64,
    has_more: bool,
    /// The filters as a query string, for the paging links.
    query: String,
}

/// Names of the codes, stores and staff a page mentions.
pub(super) struct Names {
    pub(super) codes: HashMap<i64, String>,
    pub(super) stores: HashMap<i64, String>,
    pub(super) staff: HashMap<i64, String>,
    /// A guide's name by WeCom userid (events that name only the account).
    pub(super) by_userid: HashMap<String, String>,
}

impl Names {
    pub(super) async fn load(state: &AppState, c: &Console) -> Result<Names, axum::response::Response> {
        let who = c.who();
        // Codes and staff are context, not the page itself: a role that may
        // see customers but not codes or staff still gets the list, with ids.
        let codes =
            if who.allows(Action::ViewStores) { state.engine.channel_codes(who).await.or_page(c)? } else { vec![] };
        let stores = if who.allows(Action::ViewStores) { state.engine.stores(who).await.or_page(c)? } else { vec![] };
        let staff = if who.allows(Action::ViewStaff) { state.engine.staff_list(who).await.or_page(c)? } else { vec![] };
        Ok(Names {
            by_userid: staff.iter().map(|x| (x.userid.clone(), x.name.clone())).collect(),
            codes: codes.into_iter().map(|x| (x.id, x.name)).collect(),
            stores: stores.into_iter().map(|x| (x.id, x.name)).collect(),
            staff: staff.into_iter().map(|x| (x.id, x.name)).collect(),
        })
    }

    fn of(map: &HashMap<i64, String>, id: Option<i64>) -> String {
        match id {
            Some(id) => map.get(&id).cloned().unwrap_or_else(|| format!("#{id}")),
            None => "—".into(),
        }
    }

    fn choices(map: &HashMap<i64, String>) -> Vec<Choice> {
        let mut v: Vec<Choice> = map.iter().map(|(id, n)| Choice { value: id.to_string(), label: n.clone() }).collect();
        v.sort_by(|a, b| a.label.cmp(&b.label));
        v
    }

    pub(super) fn row(&self, c: Customer) -> CustomerRow {
        CustomerRow {
            id: c.id,
            avatar: c.avatar,
            // The first add, as WeCom dated it; `created_at` is when koi
            // wrote the row (an import's load time).
            added: crate::fmt::datetime(c.added_at),
            follows: c
                .follows
                .into_iter()
                .map(|f| FollowRow {
                    guide: Names::of(&self.staff, Some(f.staff_id)),
                    since: crate::fmt::datetime(f.added_at),
                    code_id: f.code_id,
                    code: Names::of(&self.codes, f.code_id),
                    store: Names::of(&self.stores, f.store_id),
                    returning: f.returning,
                    lost_at: f.deleted_at.map(crate::fmt::datetime),
                    deleted_by: f.deleted_by.unwrap_or_default(),
                    remark: f.remark,
                })
                .collect(),
            name: c.name,
        }
    }
}

pub async fn list(State(state): State<AppState>, c: Console, Query(q): Query<ListQuery>) -> Page {
    let filter = CustomerFilter {
        code_id: id(&q.code),
        store_id: id(&q.store),
        staff_id: id(&q.staff),
        returning: match q.kind.as_deref() {
            Some("new") => Some(false),
            Some("returning") => Some(true),
            _ => None,
        },
        lost: q.lost.as_deref().is_some_and(|v| !v.is_empty()),
        search: text(&q.q),
        tag_id: text(&q.tag),
        // An unknown stage in a hand-edited URL shows every stage.
        stage: text(&q.stage).filter(|s| Stage::from_name(s).is_some()),
    };
    let page = id(&q.page).unwrap_or(0).max(0);
    let found = state.engine.customer_page(c.who(), filter.clone(), page, PER_PAGE).await.or_page(&c)?;
    let tags = state.engine.tag_groups(c.who()).await.or_page(&c)?;
    let stages = Stage::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str().into(),
            label: crate::i18n::Tr(c.lang).s(super::segments::stage_key(*s)).to_string(),
        })
        .collect();
    let names = Names::load(&state, &c).await?;
    let show = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let kind = match filter.returning {
        Some(true) => "returning",
        Some(false) => "new",
        None => "",
    };
    let query = serde_urlencoded::to_string([
        ("code", show(filter.code_id)),
        ("store", show(filter.store_id)),
        ("staff", show(filter.staff_id)),
        ("kind", kind.to_string()),
        ("lost", if filter.lost { "1".into() } else { String::new() }),
        ("q", filter.search.clone().unwrap_or_default()),
        ("tag", filter.tag_id.clone().unwrap_or_default()),
        ("stage", filter.stage.clone().unwrap_or_default()),
    ])
    .unwrap_or_default();
    let p = ListPage {
        c: Chrome::new(&state, &c, "customers").await,
        customers: found.customers.into_iter().map(|x| names.row(x)).collect(),
        codes: Names::choices(&names.codes),
        stores: Names::choices(&names.stores),
        staff: Names::choices(&names.staff),
        code: show(filter.code_id),
        store: show(filter.store_id),
        guide: show(filter.staff_id),
        kind: kind.into(),
        lost: filter.lost,
        search: filter.search.unwrap_or_default(),
        tags,
        tag: filter.tag_id.unwrap_or_default(),
        stages,
        stage: filter.stage.unwrap_or_default(),
        total: found.total,
        page,
        has_more: found.has_more,
        query,
    };
    Ok(render(&p))
}
