//! A group code's printable poster (群活码海报): the code's QR, a title (the
//! code's name unless the operator writes another) and its store, drawn on
//! a poster template the operator picks or the built-in layout
//! ([`koi_poster::Layout::group_code`]), as a 750×1334 JPEG to print or
//! post. A rotating code's QR is its join way's, read out of WeCom's QR
//! image and drawn anew; a nearest-store code's is its landing page.

use super::rotation::settings_of;
use crate::posters::{DefaultPoster, PosterFill};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::group::GroupCodeType;
use koi_domain::ValidationError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest title an operator may write, in characters.
const MAX_TITLE_CHARS: usize = 40;

/// What a group code's poster is drawn with besides the code itself.
#[derive(Debug, Clone, Default)]
pub struct GroupPosterRequest {
    /// A poster template of the corp; `None` draws the built-in layout.
    pub template_id: Option<i64>,
    /// The title; empty: the code's name.
    pub title: String,
    /// The texts of the built-in layout's `{hint}` and `{sub}` lines (the
    /// caller's language), and any other `{name}` a template uses.
    pub texts: BTreeMap<String, String>,
}

impl Engine {
    /// A group code's poster. A template's nickname layer shows the title,
    /// its text layers may use `{title}`, `{store}` and `{code}`; its
    /// avatar layer gets the title's first character on a colour.
    pub async fn group_code_poster(&self, who: &Principal, id: i64, req: GroupPosterRequest) -> Result<Arc<Vec<u8>>> {
        require(who, Action::ViewGroups)?;
        let title = req.title.trim();
        if title.chars().count() > MAX_TITLE_CHARS {
            let e =
                ValidationError::one("title", "too_long", format!("a title is at most {MAX_TITLE_CHARS} characters"));
            return Err(e.into());
        }
        let row = self.code_row(who, id).await?;
        let settings = settings_of(&row)?;
        let stores = self.db.stores(who.corp_id).await?;
        let store_name = |id: i64| stores.iter().find(|s| s.id == id).map(|s| s.name.clone());
        let (payload, store) = match settings.code_type {
            GroupCodeType::Rotating => {
                let qr = row.qr_code.as_deref().filter(|q| !q.is_empty());
                let qr = qr.ok_or(EngineError::NotFound("the group code's QR (its join way is not made yet)"))?;
                (self.qr_payload(qr).await?, row.store_id.and_then(store_name).unwrap_or_default())
            }
            GroupCodeType::NearestStore => {
                let landing =
                    format!("{}/h5/group/{}", self.settings.public_url.trim_end_matches('/'), row.public_token);
                let names: Vec<String> = settings.stores.iter().filter_map(|m| store_name(m.store_id)).collect();
                (landing, names.join(" · "))
            }
        };
        let title = if title.is_empty() { row.name.clone() } else { title.to_string() };
        let mut text_vars = req.texts;
        text_vars.insert("title".into(), title.clone());
        text_vars.insert("store".into(), store);
        text_vars.insert("code".into(), row.name.clone());
        let fill = PosterFill { qr_payload: payload, nickname: title, avatar: None, text_vars };
        match req.template_id {
            Some(template) => self.poster_jpeg(who.corp_id, template, &fill).await,
            None => self.default_poster_jpeg(who.corp_id, DefaultPoster::GroupCode, &fill).await,
        }
    }
}
