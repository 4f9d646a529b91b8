//! 群发 / Mass sends, 朋友圈 / Moments and the fatigue cap: the list of
//! sends with the form that starts one (a segment picked from the list with
//! its count, or customer groups by kind, store, owner or name; the text, a
//! link or image, materials of the material centre picked by name, the
//! guide rule, now or later) and
//! its preview counts; a send's page with its numbers per guide and per
//! store, the reasons, the customers not sent, and remind / refresh /
//! cancel; the moments list, form and page; the fatigue cap's form.

use super::groups::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::group::GroupKind;
use koi_domain::outreach::fatigue::FatigueCap;
use koi_domain::outreach::mass_send::{Audience, GuideRule, MassAttachment, MassContent, MassSendDraft};
use koi_domain::outreach::moment::{MomentDraft, MomentMedia};
use koi_engine::groups::GroupQuery;
use koi_engine::outreach::{MassSend, MassSendDetail, MassSendPreview, Moment, MomentDetail};

#[derive(Template)]
#[template(path = "mass_sends.html")]
struct ListPage {
    c: Chrome,
    sends: Vec<MassSend>,
    can_manage: bool,
    form: FormView,
    segments: Vec<Choice>,
    /// The groups audience's pickers, by name.
    kinds: Vec<Choice>,
    stores: Vec<Choice>,
    owners: Vec<Choice>,
    groups: Vec<Choice>,
    /// The material centre's materials, by title and kind.
    materials: Vec<Choice>,
    preview: Option<MassSendPreview>,
    cap: FatigueCap,
}

#[derive(Template)]
#[template(path = "mass_send.html")]
struct ShowPage {
    c: Chrome,
    d: MassSendDetail,
    can_manage: bool,
}

#[derive(Template)]
#[template(path = "moments.html")]
struct MomentsPage {
    c: Chrome,
    moments: Vec<Moment>,
    can_manage: bool,
    form: FormView,
    staff: Vec<Choice>,
    stores: Vec<Choice>,
    tags: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "moment.html")]
struct MomentPage {
    c: Chrome,
    d: MomentDetail,
    can_manage: bool,
}

pub const RULES: [&str; 3] = ["latest_follow", "earliest_follow", "store_guide"];

async fn list_page(
    state: &AppState,
    c: &Console,
    form: FormView,
    preview: Option<MassSendPreview>,
) -> Result<ListPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "mass_sends").await;
    let sends = state.engine.mass_sends(who).await.or_page(c)?;
    let segments = state
        .engine
        .segments(who)
        .await
        .or_page(c)?
        .into_iter()
        .map(|s| Choice { value: s.id.to_string(), label: format!("{} ({})", s.name, s.count) })
        .collect();
    let cap = state.engine.fatigue_cap(who).await.or_page(c)?;
    let t = crate::i18n::Tr(c.lang);
    let kinds = GroupKind::ALL
        .iter()
        .map(|k| Choice { value: k.as_str().into(), label: t.s(&format!("group_kind_{}", k.as_str())).into() })
        .collect();
    let stores = state
        .engine
        .stores(who)
        .await
        .or_page(c)?
        .into_iter()
        .map(|s| Choice { value: s.id.to_string(), label: s.name })
        .collect();
    let owners = state
        .engine
        .staff_list(who)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|s| s.active)
        .map(|s| Choice { value: s.id.to_string(), label: s.name })
        .collect();
    let q = GroupQuery { status: Some("active".into()), ..Default::default() };
    let groups = state
        .engine
        .groups(who, &q)
        .await
        .or_page(c)?
        .into_iter()
        .map(|g| Choice {
            value: g.id.to_string(),
            label: format!("{} ({})", if g.name.is_empty() { &g.chat_id } else { &g.name }, g.members),
        })
        .collect();
    let materials = state
        .engine
        .materials(who, "", "")
        .await
        .unwrap_or_default() // a role that may not see materials picks none
        .into_iter()
        .map(|m| Choice {
            value: m.id.to_string(),
            label: format!("{} ({})", m.title, t.s(&format!("mk_{}", m.kind.as_str()))),
        })
        .collect();
    Ok(ListPage {
        c: chrome,
        sends,
        can_manage: who.allows(Action::ManageMassSends),
        form,
        segments,
        kinds,
        stores,
        owners,
        groups,
        materials,
        preview,
        cap,
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = list_page(&state, &c, FormView::default(), None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

/// `datetime-local` (Asia/Shanghai) → ms.
fn local_ms(v: &str) -> Option<i64> {
    let (date, time) = v.trim().split_once('T')?;
    let day = koi_domain::calendar::parse_date(date)?;
    let (h, m) = time.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
    Some(day * 86_400_000 + (h * 60 + m) * 60_000 - 8 * 3_600_000)
}

fn draft_of(f: &ConsoleForm) -> MassSendDraft {
    let mut attachments = Vec::new();
    if !f.get("link_url").trim().is_empty() || !f.get("link_title").trim().is_empty() {
        attachments.push(MassAttachment::Link {
            title: f.get("link_title").trim().into(),
            url: f.get("link_url").trim().into(),
            desc: f.get("link_desc").trim().into(),
            picurl: String::new(),
        });
    }
    for url in f.get("image_urls").lines().map(str::trim).filter(|u| !u.is_empty()) {
        attachments.push(MassAttachment::Image { pic_url: url.into() });
    }
    for id in f.all("material").filter_map(|v| v.trim().parse().ok()) {
        attachments.push(MassAttachment::Material { material_id: id });
    }
    let audience = if f.get("audience") == "groups" {
        Audience::Groups {
            kind: GroupKind::parse(f.get("group_kind").trim()),
            store_id: f.get("group_store_id").trim().parse().ok(),
            owner_staff_id: f.get("group_owner_id").trim().parse().ok(),
            group_ids: f.all("group").filter_map(|v| v.trim().parse().ok()).collect(),
        }
    } else {
        Audience::Segment { segment_id: f.get("segment_id").trim().parse().unwrap_or(0) }
    };
    MassSendDraft {
        name: f.get("name").into(),
        audience,
        content: MassContent { text: f.get("text").into(), attachments },
        guide_rule: GuideRule::parse(f.get("guide_rule")).unwrap_or_default(),
        send_at: local_ms(f.get("send_at")),
    }
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    match state.engine.create_mass_send(c.who(), &draft_of(&f)).await {
        Ok(d) => Ok(see_other(&format!("/console/mass-sends/{}?ok=created", d.send.id))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, form, None).await?))
        }
    }
}

/// The form again with what the draft would come to now.
pub async fn preview(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    match state.engine.preview_mass_send(c.who(), &draft_of(&f)).await {
        Ok(p) => Ok(render(&list_page(&state, c, FormView::of(f.fields.clone()), Some(p)).await?)),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, form, None).await?))
        }
    }
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let d = state.engine.mass_send(c.who(), id).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "mass_sends").await.flash_from(n.ok.as_deref());
    Ok(render(&ShowPage { c: chrome, d, can_manage: c.who().allows(Action::ManageMassSends) }))
}

pub async fn remind(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.remind_mass_send(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/mass-sends/{id}?ok=queued")))
}

pub async fn refresh(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.refresh_mass_send(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/mass-sends/{id}?ok=queued")))
}

/// Looks a task whose outcome is unknown up in WeCom.
pub async fn settle_task(State(state): State<AppState>, Path((id, task)): Path<(i64, i64)>, f: ConsoleForm) -> Page {
    state.engine.settle_mass_send_task(f.console.who(), id, task).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/mass-sends/{id}?ok=queued")))
}

/// Sends a task WeCom was found not to have again, once.
pub async fn resend_task(State(state): State<AppState>, Path((id, task)): Path<(i64, i64)>, f: ConsoleForm) -> Page {
    state.engine.resend_mass_send_task(f.console.who(), id, task).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/mass-sends/{id}?ok=queued")))
}

pub async fn cancel(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.cancel_mass_send(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/mass-sends/{id}?ok=saved")))
}

pub async fn save_fatigue(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let cap = FatigueCap {
        enabled: f.get("enabled") == "on",
        max_touches: f.get("max_touches").trim().parse().unwrap_or(0),
        window_hours: f.get("window_hours").trim().parse().unwrap_or(0),
    };
    state.engine.set_fatigue_cap(c.who(), &cap).await.or_page(c)?;
    Ok(see_other("/console/mass-sends?ok=saved"))
}

async fn moments_page(state: &AppState, c: &Console, form: FormView) -> Result<MomentsPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "moments").await;
    let moments = state.engine.moments(who).await.or_page(c)?;
    let staff = state
        .engine
        .staff_list(who)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|s| s.active)
        .map(|s| Choice { value: s.id.to_string(), label: s.name })
        .collect();
    let stores = state
        .engine
        .stores(who)
        .await
        .or_page(c)?
        .into_iter()
        .map(|s| Choice { value: s.id.to_string(), label: s.name })
        .collect();
    let tags = state
        .engine
        .tag_groups(who)
        .await
        .or_page(c)?
        .into_iter()
        .flat_map(|g| {
            let group = g.name.clone();
            g.tags.into_iter().map(move |t| Choice { value: t.id, label: format!("{group} / {}", t.name) })
        })
        .collect();
    Ok(MomentsPage { c: chrome, moments, can_manage: who.allows(Action::ManageMassSends), form, staff, stores, tags })
}

pub async fn moments(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = moments_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn create_moment(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let ids = |name: &str| f.all(name).filter_map(|v| v.trim().parse().ok()).collect::<Vec<i64>>();
    let media = match f.get("media") {
        "images" => MomentMedia::Images {
            urls: f.get("image_urls").lines().map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect(),
        },
        "link" => MomentMedia::Link { title: f.get("link_title").trim().into(), url: f.get("link_url").trim().into() },
        "video" => MomentMedia::Video { media_id: f.get("media_id").trim().into() },
        _ => MomentMedia::None,
    };
    let draft = MomentDraft {
        name: f.get("name").into(),
        text: f.get("text").into(),
        media,
        staff_ids: ids("staff_id"),
        store_ids: ids("store_id"),
        tags: f.all("tag").map(String::from).collect(),
    };
    match state.engine.create_moment(c.who(), &draft).await {
        Ok(d) => Ok(see_other(&format!("/console/moments/{}?ok=created", d.moment.id))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &moments_page(&state, c, form).await?))
        }
    }
}

pub async fn moment(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let d = state.engine.moment(c.who(), id).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "moments").await.flash_from(n.ok.as_deref());
    Ok(render(&MomentPage { c: chrome, d, can_manage: c.who().allows(Action::ManageMassSends) }))
}

pub async fn refresh_moment(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.refresh_moment(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/moments/{id}?ok=queued")))
}
