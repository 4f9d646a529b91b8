//! 海报模板 / Poster templates: the list (with a preview of each), the form
//! that starts one (a name and a background), and the editor: each layer's
//! place and size in numeric inputs, the same boxes dragged on the preview
//! (poster.js), a live preview of the unsaved layout, save and delete.
//!
//! The editor's fields are named per layer (`x_0`, `size_3`, …); the same
//! names build the layout for saving and for the live preview, so the
//! preview shows what saving keeps.

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::{FieldError, ValidationError};
use koi_engine::posters::{Align, BackgroundChange, Layer, Layout, PosterTemplate, PosterTemplateDraft};
use koi_engine::EngineError;
use std::collections::HashMap;

/// A template in the list.
pub struct TemplateLine {
    pub id: i64,
    pub name: String,
    pub uploaded: bool,
    pub version: i64,
    pub layers: usize,
}

/// One layer in the editor, with the inputs it has.
pub struct LayerView {
    pub i: usize,
    pub kind: &'static str,
    /// The i18n key of the kind's name.
    pub kind_key: &'static str,
    pub x: i32,
    pub y: i32,
    pub size: i32,
    /// Text layers only (nickname, text).
    pub is_text: bool,
    pub max_width: i32,
    pub color: String,
    pub align: &'static str,
    /// Free text only.
    pub is_free_text: bool,
    pub max_lines: i32,
    pub text: String,
}

#[derive(Template)]
#[template(path = "poster_templates.html")]
struct ListPage {
    c: Chrome,
    templates: Vec<TemplateLine>,
    form: FormView,
}

#[derive(Template)]
#[template(path = "poster_template.html")]
struct EditPage {
    c: Chrome,
    t: PosterTemplate,
    bg_color: String,
    layers: Vec<LayerView>,
    form: FormView,
}

fn line(t: &PosterTemplate) -> TemplateLine {
    TemplateLine {
        id: t.id,
        name: t.name.clone(),
        uploaded: t.background_bytes > 0,
        version: t.version,
        layers: t.layout.layers.len(),
    }
}

fn align_str(a: Align) -> &'static str {
    match a {
        Align::Left => "left",
        Align::Center => "center",
        Align::Right => "right",
    }
}

fn layer_views(layout: &Layout) -> Vec<LayerView> {
    layout
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut v = LayerView {
                i,
                kind: l.kind(),
                kind_key: match l {
                    Layer::Qr { .. } => "pt_layer_qr",
                    Layer::Avatar { .. } => "pt_layer_avatar",
                    Layer::Nickname { .. } => "pt_layer_nickname",
                    Layer::Text { .. } => "pt_layer_text",
                },
                x: 0,
                y: 0,
                size: 0,
                is_text: false,
                max_width: 0,
                color: String::new(),
                align: "left",
                is_free_text: false,
                max_lines: 1,
                text: String::new(),
            };
            match l {
                Layer::Qr { x, y, size } | Layer::Avatar { x, y, size } => (v.x, v.y, v.size) = (*x, *y, *size),
                Layer::Nickname { x, y, size, color, max_width, align } => {
                    (v.x, v.y, v.size, v.max_width, v.is_text) = (*x, *y, *size, *max_width, true);
                    (v.color, v.align) = (color.clone(), align_str(*align));
                }
                Layer::Text { x, y, size, color, max_width, max_lines, align, text } => {
                    (v.x, v.y, v.size, v.max_width, v.is_text, v.is_free_text) =
                        (*x, *y, *size, *max_width, true, true);
                    (v.color, v.align, v.max_lines, v.text) =
                        (color.clone(), align_str(*align), *max_lines, text.clone());
                }
            }
            v
        })
        .collect()
}

/// The layout the editor's fields describe: the saved layers (their kinds
/// and order), each moved and sized as the fields say.
fn layout_from(saved: &Layout, f: &HashMap<String, String>) -> Result<Layout, WebError> {
    let mut bad = Vec::new();
    let mut int = |name: &str, i: usize, current: i32| -> i32 {
        match f.get(&format!("{name}_{i}")).map(|s| s.trim()) {
            None | Some("") => current,
            Some(s) => s.parse().unwrap_or_else(|_| {
                bad.push(FieldError::new(
                    &format!("layout.layers.{i}.{name}"),
                    "not_a_number",
                    format!("{s:?} is not a whole number"),
                ));
                current
            }),
        }
    };
    let text = |name: &str, i: usize, current: &str| {
        f.get(&format!("{name}_{i}")).cloned().unwrap_or_else(|| current.to_string())
    };
    let align = |i: usize, current: Align| match f.get(&format!("align_{i}")).map(String::as_str) {
        Some("center") => Align::Center,
        Some("right") => Align::Right,
        Some("left") => Align::Left,
        _ => current,
    };
    let mut layers = Vec::with_capacity(saved.layers.len());
    for (i, l) in saved.layers.iter().enumerate() {
        layers.push(match l {
            Layer::Qr { x, y, size } => {
                Layer::Qr { x: int("x", i, *x), y: int("y", i, *y), size: int("size", i, *size) }
            }
            Layer::Avatar { x, y, size } => {
                Layer::Avatar { x: int("x", i, *x), y: int("y", i, *y), size: int("size", i, *size) }
            }
            Layer::Nickname { x, y, size, color, max_width, align: a } => Layer::Nickname {
                x: int("x", i, *x),
                y: int("y", i, *y),
                size: int("size", i, *size),
                color: text("color", i, color),
                max_width: int("max_width", i, *max_width),
                align: align(i, *a),
            },
            Layer::Text { x, y, size, color, max_width, max_lines, align: a, text: t } => Layer::Text {
                x: int("x", i, *x),
                y: int("y", i, *y),
                size: int("size", i, *size),
                color: text("color", i, color),
                max_width: int("max_width", i, *max_width),
                max_lines: int("max_lines", i, *max_lines),
                align: align(i, *a),
                text: text("text", i, t),
            },
        });
    }
    if !bad.is_empty() {
        return Err(WebError::Engine(EngineError::Invalid(ValidationError(bad))));
    }
    let background_color = f.get("bg_color").cloned().unwrap_or_else(|| saved.background_color.clone());
    Ok(Layout { background_color, layers })
}

/// A multipart form's text fields and its `background` file (if one was
/// chosen), after the CSRF check.
async fn read_form(c: &Console, mut form: Multipart) -> Result<(HashMap<String, String>, Option<Vec<u8>>), Response> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        let too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
        error_page(
            c,
            if too_large {
                WebError::PayloadTooLarge(e.body_text())
            } else {
                WebError::bad_request("malformed_upload", e.body_text())
            },
        )
    };
    let mut fields = HashMap::new();
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "background" {
            let named = field.file_name().is_some_and(|n| !n.is_empty());
            let bytes = field.bytes().await.map_err(malformed)?;
            if named && !bytes.is_empty() {
                file = Some(crate::api::posters::check_size(bytes.to_vec()).map_err(|e| error_page(c, e))?);
            }
        } else {
            fields.insert(name, field.text().await.map_err(malformed)?);
        }
    }
    c.check_csrf(fields.get("_csrf").map(String::as_str)).map_err(|e| error_page(c, e))?;
    Ok((fields, file))
}

fn values(f: &HashMap<String, String>) -> Vec<(String, String)> {
    f.iter().filter(|(k, _)| *k != "_csrf").map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let templates = state.engine.poster_templates(c.who()).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "poster_templates").await.flash_from(n.ok.as_deref());
    Ok(render(&ListPage { c: chrome, templates: templates.iter().map(line).collect(), form: FormView::default() }))
}

/// Starts a template from the starter layout, on the uploaded background
/// (or the starter's colour), and opens it in the editor.
pub async fn create(State(state): State<AppState>, c: Console, upload: Multipart) -> Page {
    let (fields, background) = read_form(&c, upload).await?;
    let draft =
        PosterTemplateDraft { name: fields.get("name").cloned().unwrap_or_default(), layout: Layout::starter() };
    match state.engine.create_poster_template(c.who(), draft, background).await {
        Ok(t) => Ok(see_other(&format!("/console/poster-templates/{}?ok=created", t.id))),
        Err(e) => {
            let form = FormView::failed(values(&fields), e.into()).map_err(|e| error_page(&c, e))?;
            let templates = state.engine.poster_templates(c.who()).await.or_page(&c)?;
            let chrome = Chrome::new(&state, &c, "poster_templates").await;
            let page = ListPage { c: chrome, templates: templates.iter().map(line).collect(), form };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

pub async fn edit(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let t = state.engine.poster_template(c.who(), id).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "poster_templates").await.flash_from(n.ok.as_deref());
    let (layers, bg_color) = (layer_views(&t.layout), t.layout.background_color.clone());
    Ok(render(&EditPage { c: chrome, t, bg_color, layers, form: FormView::default() }))
}

pub async fn update(State(state): State<AppState>, c: Console, Path(id): Path<i64>, upload: Multipart) -> Page {
    let (fields, file) = read_form(&c, upload).await?;
    let t = state.engine.poster_template(c.who(), id).await.or_page(&c)?;
    let background = match (file, fields.contains_key("remove_background")) {
        (Some(bytes), _) => BackgroundChange::Set(bytes),
        (None, true) => BackgroundChange::Remove,
        (None, false) => BackgroundChange::Keep,
    };
    let saved = async {
        let layout = layout_from(&t.layout, &fields)?;
        let name = fields.get("name").cloned().unwrap_or_default();
        let draft = PosterTemplateDraft { name, layout };
        Ok::<_, WebError>(state.engine.update_poster_template(c.who(), id, draft, background).await?)
    };
    match saved.await {
        Ok(_) => Ok(see_other(&format!("/console/poster-templates/{id}?ok=saved"))),
        Err(e) => {
            let form = FormView::failed(values(&fields), e).map_err(|e| error_page(&c, e))?;
            // Show the layers as the operator left them, so nothing typed is lost.
            let shown = layout_from(&t.layout, &fields).unwrap_or_else(|_| t.layout.clone());
            let chrome = Chrome::new(&state, &c, "poster_templates").await;
            let (layers, bg_color) = (layer_views(&shown), shown.background_color.clone());
            let page = EditPage { c: chrome, t, bg_color, layers, form };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    state.engine.delete_poster_template(c.who(), id).await.or_page(c)?;
    Ok(see_other("/console/poster-templates?ok=deleted"))
}

/// The saved template's preview, or — with the editor's fields in the
/// query — the unsaved layout over the saved background.
pub async fn preview(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let editing = q.keys().any(|k| k.contains('_'));
    let jpeg = if editing {
        let t = state.engine.poster_template(c.who(), id).await.or_page(&c)?;
        let layout = layout_from(&t.layout, &q).map_err(|e| error_page(&c, e))?;
        state.engine.poster_preview_layout(c.who(), id, layout).await.or_page(&c)?
    } else {
        state.engine.poster_preview(c.who(), id).await.or_page(&c)?.as_ref().clone()
    };
    Ok(crate::api::posters::jpeg_response(jpeg))
}
