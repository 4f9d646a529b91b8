//! Poster templates (海报模板) and personal posters. Operators keep
//! templates (a background and where the QR, avatar, nickname and text go);
//! campaigns render each participant's poster with
//! [`Engine::poster_jpeg`], cached by content hash.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the templates' use cases, the preview, `poster_jpeg`, the built-in layouts, WeCom's QR images read |
//! | `cache.rs` | rendered posters by content hash, prepared templates, QR payloads by image URL, avatars by URL |

mod cache;

pub(crate) use cache::PosterCache;

use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::{FieldError, ValidationError};
use koi_poster::{Fonts, PosterError, PreparedTemplate};
use koi_store::events::NewEvent;
use koi_store::now_ms;
use koi_store::posters::{BackgroundWrite, PosterTemplateRow, PosterTemplateWrite};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

pub use koi_poster::{Align, Layer, Layout, PosterFill, MAX_BACKGROUND_BYTES, MAX_BACKGROUND_SIDE};

/// The nickname a preview is filled with: CJK and an emoji, as real ones are.
pub const PREVIEW_NICKNAME: &str = "小锦鲤🐟";
/// What a preview's QR encodes.
pub const PREVIEW_QR: &str = "https://koi.example/poster-preview";
const MAX_NAME_CHARS: usize = 60;
/// How long a poster waits for an avatar before drawing the placeholder.
pub const AVATAR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether a served content type is a picture the poster reads.
fn is_avatar_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(mime.as_str(), "image/png" | "image/jpeg" | "image/jpg")
}

/// A template as the API and console show it (the background's bytes are
/// not in it: it is drawn in the preview).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PosterTemplate {
    pub id: i64,
    pub name: String,
    pub layout: Layout,
    /// `image/png` or `image/jpeg`; empty when the background is the
    /// layout's colour alone.
    pub background_type: String,
    /// The uploaded background's size in bytes (0: none).
    pub background_bytes: i64,
    /// Moves on with every edit; cached posters of older versions are not served.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A template's name and layout, as an operator writes them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PosterTemplateDraft {
    pub name: String,
    pub layout: Layout,
}

/// What an edit does to the background image.
#[derive(Debug, Clone, Default)]
pub enum BackgroundChange {
    #[default]
    Keep,
    Remove,
    /// A PNG or JPEG upload.
    Set(Vec<u8>),
}

/// A poster drawn when no template is picked: a built-in layout on its
/// background colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPoster {
    /// A participant's poster ([`Layout::starter`]).
    Campaign,
    /// A group code's printable poster ([`Layout::group_code`]).
    GroupCode,
    /// A distributor's product poster ([`Layout::distributor`]).
    Distributor,
}

impl DefaultPoster {
    /// The template id it is cached under (no stored template has it).
    fn cache_id(self) -> i64 {
        match self {
            DefaultPoster::Campaign => -1,
            DefaultPoster::GroupCode => -2,
            DefaultPoster::Distributor => -3,
        }
    }

    fn layout(self) -> Layout {
        match self {
            DefaultPoster::Campaign => Layout::starter(),
            DefaultPoster::GroupCode => Layout::group_code(),
            DefaultPoster::Distributor => Layout::distributor(),
        }
    }
}

/// The machine's fonts, read once per process.
fn fonts() -> Result<Arc<Fonts>> {
    static FONTS: OnceLock<std::result::Result<Arc<Fonts>, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| Fonts::system().map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(EngineError::Unavailable)
}

/// A poster error as the engine reports it: what the operator sent is
/// `invalid_input` naming the field; a machine without fonts `unavailable`.
fn of_poster(e: PosterError) -> EngineError {
    let invalid = |field: &str, code: &str, m: String| EngineError::Invalid(ValidationError::one(field, code, m));
    match e {
        PosterError::Invalid(problems) => EngineError::Invalid(ValidationError(
            problems.into_iter().map(|p| FieldError::new(&format!("layout.{}", p.field), p.code, p.message)).collect(),
        )),
        e @ PosterError::TooLarge { what, .. } => invalid(what, "too_large", e.to_string()),
        e @ PosterError::BadImage { what, .. } => invalid(what, "unreadable_image", e.to_string()),
        e @ PosterError::Qr(_) => invalid("qr_payload", "too_long", e.to_string()),
        e @ (PosterError::NoFont(_) | PosterError::Encode(_)) => EngineError::Unavailable(e.to_string()),
    }
}

fn view(row: PosterTemplateRow) -> Result<PosterTemplate> {
    let layout = serde_json::from_str(&row.layout)
        .map_err(|e| EngineError::Unavailable(format!("poster template {} has an unreadable layout: {e}", row.id)))?;
    Ok(PosterTemplate {
        id: row.id,
        name: row.name,
        layout,
        background_type: row.background_type,
        background_bytes: row.background_bytes,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        let e = ValidationError::one("name", "out_of_range", format!("a name of 1–{MAX_NAME_CHARS} characters"));
        return Err(e.into());
    }
    Ok(name.to_string())
}

/// The content type of a PNG or JPEG upload.
fn content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

/// Decodes and prepares a template off the async threads (a large upload
/// takes tens of milliseconds).
async fn prepare(layout: Layout, background: Option<Vec<u8>>) -> Result<Arc<PreparedTemplate>> {
    let fonts = fonts()?;
    tokio::task::spawn_blocking(move || PreparedTemplate::prepare(&layout, background.as_deref(), fonts))
        .await
        .map_err(|e| EngineError::Unavailable(format!("poster preparation stopped: {e}")))?
        .map(Arc::new)
        .map_err(of_poster)
}

async fn append_event(tx: &mut koi_store::Tx, who: &Principal, kind: &str, id: i64, name: &str) -> Result<()> {
    let now = now_ms();
    let e = NewEvent {
        corp_id: who.corp_id,
        kind,
        subject: &format!("poster_template:{id}"),
        actor: &actor(who),
        payload: &serde_json::json!({ "name": name }).to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}

impl Engine {
    pub async fn poster_templates(&self, who: &Principal) -> Result<Vec<PosterTemplate>> {
        require(who, Action::ManagePosters)?;
        self.db.poster_templates(who.corp_id).await?.into_iter().map(view).collect()
    }

    pub async fn poster_template(&self, who: &Principal, id: i64) -> Result<PosterTemplate> {
        require(who, Action::ManagePosters)?;
        view(self.poster_row(who.corp_id, id).await?)
    }

    async fn poster_row(&self, corp_id: i64, id: i64) -> Result<PosterTemplateRow> {
        self.db.poster_template(corp_id, id).await?.ok_or(EngineError::NotFound("poster template"))
    }

    /// Creates a template. The layout is checked and the background (PNG or
    /// JPEG, at most 5 MiB and 6000 pixels a side) decoded before anything
    /// is kept: a template that is kept renders.
    pub async fn create_poster_template(
        &self,
        who: &Principal,
        draft: PosterTemplateDraft,
        background: Option<Vec<u8>>,
    ) -> Result<PosterTemplate> {
        require(who, Action::ManagePosters)?;
        let name = check_name(&draft.name)?;
        prepare(draft.layout.clone(), background.clone()).await?;
        let layout = serde_json::to_string(&draft.layout).expect("a layout is plain data and serialises");
        let w = PosterTemplateWrite { name: &name, layout: &layout, now: now_ms() };
        let mut tx = self.db.begin().await?;
        let bg = background.as_deref().map(|b| (b, content_type(b)));
        let id = tx.insert_poster_template(who.corp_id, &w, bg).await?;
        append_event(&mut tx, who, "poster_template.created", id, &name).await?;
        tx.commit().await?;
        self.poster_template(who, id).await
    }

    /// Replaces a template's name and layout, and its background as asked;
    /// its version moves on, so its posters are rendered anew.
    pub async fn update_poster_template(
        &self,
        who: &Principal,
        id: i64,
        draft: PosterTemplateDraft,
        background: BackgroundChange,
    ) -> Result<PosterTemplate> {
        require(who, Action::ManagePosters)?;
        let name = check_name(&draft.name)?;
        self.poster_row(who.corp_id, id).await?;
        let bytes = match &background {
            BackgroundChange::Keep => self.db.poster_background(who.corp_id, id).await?,
            BackgroundChange::Remove => None,
            BackgroundChange::Set(b) => Some(b.clone()),
        };
        let prepared = prepare(draft.layout.clone(), bytes).await?;
        let layout = serde_json::to_string(&draft.layout).expect("a layout is plain data and serialises");
        let w = PosterTemplateWrite { name: &name, layout: &layout, now: now_ms() };
        let write = match &background {
            BackgroundChange::Keep => BackgroundWrite::Keep,
            BackgroundChange::Remove => BackgroundWrite::Remove,
            BackgroundChange::Set(b) => BackgroundWrite::Set(b, content_type(b)),
        };
        let mut tx = self.db.begin().await?;
        let version = tx
            .update_poster_template(who.corp_id, id, &w, write)
            .await?
            .ok_or(EngineError::NotFound("poster template"))?;
        append_event(&mut tx, who, "poster_template.updated", id, &name).await?;
        tx.commit().await?;
        self.posters.keep_prepared(who.corp_id, id, version, prepared);
        self.poster_template(who, id).await
    }

    pub async fn delete_poster_template(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManagePosters)?;
        let row = self.poster_row(who.corp_id, id).await?;
        let mut tx = self.db.begin().await?;
        if !tx.delete_poster_template(who.corp_id, id).await? {
            return Err(EngineError::NotFound("poster template"));
        }
        append_event(&mut tx, who, "poster_template.deleted", id, &row.name).await?;
        tx.commit().await?;
        self.posters.forget_template(who.corp_id, id);
        Ok(())
    }

    /// The template rendered as a participant would see it: nickname
    /// 小锦鲤🐟, a placeholder avatar, a sample QR.
    pub async fn poster_preview(&self, who: &Principal, id: i64) -> Result<Arc<Vec<u8>>> {
        require(who, Action::ManagePosters)?;
        self.poster_jpeg(who.corp_id, id, &preview_fill()).await
    }

    /// A saved template's background under another layout, not saved: the
    /// editor's live preview while layers are moved.
    pub async fn poster_preview_layout(&self, who: &Principal, id: i64, layout: Layout) -> Result<Vec<u8>> {
        require(who, Action::ManagePosters)?;
        self.poster_row(who.corp_id, id).await?;
        let background = self.db.poster_background(who.corp_id, id).await?;
        let prepared = prepare(layout, background).await?;
        render(prepared, preview_fill()).await
    }

    /// One participant's poster from a template, as a 750×1334 JPEG. The
    /// same template version and fill give the same bytes, from memory
    /// after the first time. For the campaign engine: the caller has
    /// already checked who may ask.
    pub async fn poster_jpeg(&self, corp_id: i64, template_id: i64, fill: &PosterFill) -> Result<Arc<Vec<u8>>> {
        let row = self.poster_row(corp_id, template_id).await?;
        let key = cache::render_key(corp_id, template_id, row.version, fill);
        if let Some(jpeg) = self.posters.render(&key) {
            return Ok(jpeg);
        }
        let prepared = match self.posters.prepared(corp_id, template_id, row.version) {
            Some(p) => p,
            None => {
                let layout: Layout = view(row.clone())?.layout;
                let background = self.db.poster_background(corp_id, template_id).await?;
                let p = prepare(layout, background).await?;
                self.posters.keep_prepared(corp_id, template_id, row.version, p.clone());
                p
            }
        };
        let jpeg = Arc::new(render(prepared, fill.clone()).await?);
        self.posters.keep_render(key, jpeg.clone());
        Ok(jpeg)
    }

    /// A poster from a built-in layout, cached as [`Engine::poster_jpeg`]'s.
    pub async fn default_poster_jpeg(
        &self,
        corp_id: i64,
        which: DefaultPoster,
        fill: &PosterFill,
    ) -> Result<Arc<Vec<u8>>> {
        let id = which.cache_id();
        let key = cache::render_key(corp_id, id, 0, fill);
        if let Some(jpeg) = self.posters.render(&key) {
            return Ok(jpeg);
        }
        let prepared = match self.posters.prepared(corp_id, id, 0) {
            Some(p) => p,
            None => {
                let p = prepare(which.layout(), None).await?;
                self.posters.keep_prepared(corp_id, id, 0, p.clone());
                p
            }
        };
        let jpeg = Arc::new(render(prepared, fill.clone()).await?);
        self.posters.keep_render(key, jpeg.clone());
        Ok(jpeg)
    }

    /// What the QR behind one of WeCom's `qr_code` URLs encodes (a contact
    /// way's or a group join way's picture): fetched once (at most 1 MiB,
    /// the client's timeouts), read, and kept by URL, so a poster draws
    /// the QR crisply at its own size.
    pub(crate) async fn qr_payload(&self, url: &str) -> Result<String> {
        if let Some(p) = self.posters.qr_payload(url) {
            return Ok(p);
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(EngineError::Unavailable(format!("the QR image {url:?} is not a web address")));
        }
        let bytes = self
            .wecom
            .qr_image(url, koi_poster::MAX_QR_IMAGE_BYTES)
            .await
            .map_err(|e| EngineError::Unavailable(format!("WeCom's QR image could not be fetched: {e}")))?;
        let payload = tokio::task::spawn_blocking(move || koi_poster::read_qr(&bytes))
            .await
            .map_err(|e| EngineError::Unavailable(format!("reading the QR image stopped: {e}")))?
            .map_err(|e| EngineError::Unavailable(format!("WeCom's QR image does not read: {e}")))?;
        self.posters.keep_qr_payload(url, payload.clone());
        Ok(payload)
    }

    /// A picture for a poster — a customer's avatar (WeChat's CDN), a
    /// product's image: fetched from its URL once and kept; `None` — the
    /// poster draws the placeholder or goes without — when there is no URL,
    /// or the fetch fails in any way: no answer within [`AVATAR_TIMEOUT`],
    /// an error status, more than [`koi_poster::MAX_AVATAR_BYTES`], or not
    /// served as a PNG or JPEG. A failure is remembered for a while, so a
    /// dead CDN slows no poster.
    pub(crate) async fn picture(&self, url: &str) -> Option<Vec<u8>> {
        let url = url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return None;
        }
        if let Some(known) = self.posters.picture(url) {
            return known.map(|b| b.to_vec());
        }
        let fetched = tokio::time::timeout(AVATAR_TIMEOUT, self.wecom.avatar_image(url, koi_poster::MAX_AVATAR_BYTES));
        let bytes = match fetched.await {
            Ok(Ok((content_type, bytes))) if is_avatar_type(&content_type) && !bytes.is_empty() => Some(bytes),
            Ok(Ok((content_type, _))) => {
                tracing::info!(url, content_type = %content_type, "an avatar that is not a PNG or JPEG; the placeholder is drawn");
                None
            }
            Ok(Err(e)) => {
                tracing::info!(url, error = %e, "an avatar could not be fetched; the placeholder is drawn");
                None
            }
            Err(_) => {
                tracing::info!(url, "an avatar took too long; the placeholder is drawn");
                None
            }
        };
        self.posters.keep_picture(url, bytes.clone().map(Arc::new));
        bytes
    }

    /// Posters in this node's render cache (for tests and the benchmark).
    pub fn posters_cached(&self) -> usize {
        self.posters.renders_kept()
    }
}

fn preview_fill() -> PosterFill {
    PosterFill {
        qr_payload: PREVIEW_QR.into(),
        nickname: PREVIEW_NICKNAME.into(),
        avatar: None,
        text_vars: Default::default(),
    }
}

async fn render(prepared: Arc<PreparedTemplate>, fill: PosterFill) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || prepared.render(&fill))
        .await
        .map_err(|e| EngineError::Unavailable(format!("poster rendering stopped: {e}")))?
        .map_err(of_poster)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_png_and_jpeg_are_avatars() {
        for ok in ["image/png", "image/jpeg", "IMAGE/JPEG; charset=binary", "image/jpg"] {
            assert!(super::is_avatar_type(ok), "{ok}");
        }
        for bad in ["", "text/html", "image/svg+xml", "application/octet-stream", "image/gif"] {
            assert!(!super::is_avatar_type(bad), "{bad}");
        }
    }
}
