//! Channel codes (渠道活码): the list with each code's adds so far, the
//! editor, and a code's page with its QR, downloads, printable poster and
//! last 30 days.
//!
//! | file | room for |
//! |---|---|
//! | `list.rs` | the list of codes and the form that creates one |
//! | `editor.rs` | the page that edits a saved code |
//! | `form.rs` | the editor's fields ⇄ a [`ChannelCodeDraft`](koi_domain::channel::ChannelCodeDraft) |
//! | `show.rs` | a code's page: QR, last 30 days, welcome variants; switching it off |
//! | `downloads.rs` | the QR as SVG and PNG, and the printable poster |

mod downloads;
mod editor;
mod form;
mod list;
mod show;

pub use downloads::{poster, qr_png, qr_svg};
pub use editor::{edit, update};
pub use list::{create, list};
pub use show::{deactivate, show};

use crate::auth::Console;
use crate::i18n::Lang;
use crate::AppState;
use koi_domain::channel::{ChannelType, PoolMember};
use koi_domain::org::{Staff, Store};
use koi_engine::acquisition::ChannelCode;
use std::collections::HashMap;

/// A choice in a select: value, label.
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// A nearest-store code's landing page under koi's public URL.
fn landing_url(state: &AppState, code: &ChannelCode) -> Option<String> {
    let base = state.config.public_url.trim_end_matches('/');
    code.landing_path.as_ref().map(|path| format!("{base}{path}"))
}

/// What a code's QR encodes when printed: a nearest-store code's landing
/// page (the customer's location picks the store there), any other code's
/// WeCom contact way.
fn printed_url(state: &AppState, code: &ChannelCode) -> Option<String> {
    landing_url(state, code).or_else(|| code.qr_code.clone().filter(|q| !q.is_empty()))
}

fn channel_label(c: &Console, t: ChannelType) -> &'static str {
    match c.lang {
        Lang::Zh => t.label_zh(),
        Lang::En => t.label_en(),
    }
}

fn names<T>(items: &[T], id: impl Fn(&T) -> i64, name: impl Fn(&T) -> &str) -> HashMap<i64, String> {
    items.iter().map(|i| (id(i), name(i).to_string())).collect()
}

fn store_names(stores: &[Store]) -> HashMap<i64, String> {
    names(stores, |s: &Store| s.id, |s| &s.name)
}

fn staff_names(staff: &[Staff]) -> HashMap<i64, String> {
    names(staff, |s: &Staff| s.id, |s| &s.name)
}

fn pool_names(pool: &[PoolMember], staff: &HashMap<i64, String>) -> Vec<String> {
    pool.iter()
        .map(|m| {
            let name = staff.get(&m.staff_id).cloned().unwrap_or_else(|| format!("#{}", m.staff_id));
            if m.backup {
                format!("{name}*")
            } else {
                name
            }
        })
        .collect()
}

const ROUTINGS: [&str; 5] = ["wecom_random", "round_robin", "daily_cap", "working_hours", "nearest_store"];

/// The choices the code editor offers.
struct EditorChoices {
    channel_types: Vec<Choice>,
    stores: Vec<Choice>,
    staff: Vec<Choice>,
    routings: Vec<&'static str>,
    tag_groups: Vec<koi_engine::customers::TagGroupView>,
}

/// The live coupon templates, for a code's welcome coupon.
async fn coupon_choices(state: &crate::AppState, c: &Console) -> Vec<Choice> {
    if !c.who().allows(koi_domain::access::Action::ViewCoupons) {
        return vec![];
    }
    let list = state.engine.coupon_templates(c.who()).await.unwrap_or_default();
    list.into_iter()
        .filter(|t| !t.archived)
        .map(|t| Choice { value: t.id.to_string(), label: format!("{} · {}", t.draft.name, t.title) })
        .collect()
}

fn editor_choices(
    c: &Console,
    stores: &[Store],
    staff: &[Staff],
    tag_groups: Vec<koi_engine::customers::TagGroupView>,
) -> EditorChoices {
    EditorChoices {
        channel_types: ChannelType::ALL
            .into_iter()
            .map(|t| Choice { value: t.as_str().into(), label: channel_label(c, t).into() })
            .collect(),
        stores: stores.iter().map(|s| Choice { value: s.id.to_string(), label: s.name.clone() }).collect(),
        staff: staff
            .iter()
            .filter(|s| s.active)
            .map(|s| Choice { value: s.id.to_string(), label: s.name.clone() })
            .collect(),
        routings: ROUTINGS.to_vec(),
        tag_groups,
    }
}
