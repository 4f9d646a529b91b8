//! `/materials/upload`, `/materials/{id}/file`: files of the material
//! centre (image, poster, PDF, video; at most 10 MB, a PDF 20 MB), checked
//! by their content; and `/sops/report`: the SOP work per guide and store.

use super::ErrorBody;
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::sop::material_file::MAX_UPLOAD_BYTES;
use koi_domain::sop::script::{MaterialDraft, MaterialKind};
use koi_domain::ValidationError;
use koi_engine::materials::Material;
use koi_engine::sop::report::SopReport;
use koi_engine::EngineError;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(replace_file))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .routes(routes!(sop_report))
}

/// A material made of a file (`multipart/form-data`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // the form's shape, for the OpenAPI document
pub struct MaterialUpload {
    /// `image`, `poster`, `pdf` or `video`.
    kind: String,
    title: String,
    folder: Option<String>,
    description: Option<String>,
    /// JPG or PNG (image, poster), PDF, MP4 (video); read by its content.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// A material's new file (`multipart/form-data`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // the form's shape, for the OpenAPI document
pub struct MaterialFileUpload {
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// The text fields and the `file` part (name, bytes) of a multipart body.
async fn read_multipart(mut form: Multipart) -> Result<(Vec<(String, String)>, Option<(String, Vec<u8>)>), WebError> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            WebError::PayloadTooLarge(e.body_text())
        } else {
            WebError::bad_request("malformed_upload", e.body_text())
        }
    };
    let mut fields = Vec::new();
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or_default().to_string();
            file = Some((filename, field.bytes().await.map_err(malformed)?.to_vec()));
        } else {
            fields.push((name, field.text().await.map_err(malformed)?));
        }
    }
    Ok((fields, file))
}

fn no_file() -> WebError {
    EngineError::Invalid(ValidationError::one("file", "required", "a file part named file")).into()
}

/// Uploads a file as a new material. The format is read from the bytes
/// (JPG/PNG for `image` and `poster`, PDF for `pdf`, MP4 for `video`): a
/// file that is none of them, or not of the kind, is 422 `invalid_input` on
/// `file`; over the limit, 422 `too_large` (413 past the request limit).
/// The material's `url` serves the file; its tracked links serve it too,
/// and messages attach it as a WeCom media.
#[utoipa::path(post, path = "/materials/upload", tag = "sops",
    request_body(content = MaterialUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = Material), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    form: Multipart,
) -> Result<(StatusCode, Json<Material>), WebError> {
    let (fields, file) = read_multipart(form).await?;
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map_or(String::new(), |(_, v)| v.clone());
    let kind = MaterialKind::parse(&get("kind"))
        .ok_or_else(|| EngineError::Invalid(ValidationError::one("kind", "unknown", "image, poster, pdf or video")))?;
    let (filename, bytes) = file.ok_or_else(no_file)?;
    let draft = MaterialDraft {
        kind,
        folder: get("folder"),
        title: get("title"),
        url: String::new(),
        description: get("description"),
        appid: String::new(),
        page: String::new(),
    };
    let m = state.engine.create_material_with_file(&who, draft, &filename, &bytes).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// Replaces a material's file (the same checks; the kind stays). The
/// material's address changes with the file; WeCom gets the new file the
/// next time it is sent.
#[utoipa::path(put, path = "/materials/{id}/file", tag = "sops", params(("id" = i64, Path)),
    request_body(content = MaterialFileUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = Material), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn replace_file(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    form: Multipart,
) -> Result<Json<Material>, WebError> {
    let (_, file) = read_multipart(form).await?;
    let (filename, bytes) = file.ok_or_else(no_file)?;
    Ok(Json(state.engine.upload_material_file(&who, id, &filename, &bytes).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// One rule's work; every rule's when left out.
    pub rule_id: Option<i64>,
    /// The window in days, 1..=366 (default 30).
    pub days: Option<i64>,
}

/// SOP work per guide and per store over the last `days` days: guide
/// tasks planned, done, overdue (still to do a day after falling due),
/// and steps skipped for the guide's customers and groups. A store manager
/// sees their stores' guides.
#[utoipa::path(get, path = "/sops/report", tag = "sops", params(ReportQuery),
    responses((status = 200, body = SopReport), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sop_report(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<ReportQuery>,
) -> Result<Json<SopReport>, WebError> {
    Ok(Json(state.engine.sop_report(&who, q.rule_id, q.days.unwrap_or(30)).await?))
}
