//! The material centre's file upload (素材上传): an image, poster, PDF or
//! video chosen on the materials page becomes a material whose address
//! serves the file (`koi_engine::materials` keeps it in the database).

use super::sops::materials_page;
use super::{error_page, see_other, FormView, Page};
use crate::auth::Console;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use koi_domain::sop::script::{MaterialDraft, MaterialKind};
use koi_domain::ValidationError;

/// The request limit of an upload: the largest file plus its form.
pub(super) fn upload_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(koi_domain::sop::material_file::MAX_UPLOAD_BYTES)
}

/// `POST /console/materials/upload` (multipart: kind, folder, title,
/// description, file).
pub async fn upload(State(state): State<AppState>, c: Console, mut form: Multipart) -> Page {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error_page(&c, WebError::PayloadTooLarge(e.body_text()))
        } else {
            error_page(&c, WebError::bad_request("malformed_upload", e.body_text()))
        }
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.map_err(malformed)?;
            file = Some((filename, bytes.to_vec()));
        } else {
            fields.push((name, field.text().await.map_err(malformed)?));
        }
    }
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str()).to_string();
    c.check_csrf(Some(get("_csrf").as_str())).map_err(|e| error_page(&c, e))?;
    let values: Vec<(String, String)> = fields.iter().filter(|(k, _)| k != "_csrf").cloned().collect();
    let result = match MaterialKind::parse(&get("kind")) {
        Some(kind) => {
            let draft = MaterialDraft {
                kind,
                folder: get("folder"),
                title: get("title"),
                url: String::new(),
                description: get("description"),
                appid: String::new(),
                page: String::new(),
            };
            let (filename, bytes) = file.unwrap_or_default();
            state.engine.create_material_with_file(c.who(), draft, &filename, &bytes).await.map_err(WebError::from)
        }
        None => Err(WebError::from(koi_engine::EngineError::Invalid(ValidationError::one(
            "kind",
            "unknown",
            "pick a kind",
        )))),
    };
    match result {
        Ok(_) => Ok(see_other("/console/materials?ok=created")),
        Err(e) => {
            tracing::info!(corp_id = c.who().corp_id, error = %e, "material upload refused");
            let form = FormView::failed(values, e).map_err(|e| error_page(&c, e))?;
            let mut page = materials_page(&state, &c, form, None).await?;
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
    }
}
