//! Personal posters (海报): a template — a background and layers at fixed
//! places — rendered per participant with their QR code, round avatar,
//! nickname (CJK and emoji) and text, as a 750×1334 JPEG.
//!
//! Pure rendering: no IO but reading the system's font files once
//! ([`Fonts::system`]). A template is decoded and prepared once
//! ([`PreparedTemplate`]); a render only draws the personal layers and
//! encodes what they touch (see `jpeg.rs`).
//!
//! | file | what |
//! |---|---|
//! | `template.rs` | the template's layout (serde) and its validation |
//! | `fonts.rs` | finding the CJK and emoji fonts, glyph cache, text layout |
//! | `draw.rs` | a region of the canvas and what is drawn on it |
//! | `jpeg.rs` | the background pre-encoded with restart markers, spliced |
//! | `render.rs` | [`PreparedTemplate`] and [`PreparedTemplate::render`] |
//! | `qr_read.rs` | [`read_qr`]: the payload of a QR image (WeCom's `qr_code`) |

mod draw;
mod fonts;
mod jpeg;
mod qr_read;
mod render;
mod template;
#[cfg(test)]
mod tests;

pub use fonts::Fonts;
pub use qr_read::{read_qr, MAX_QR_IMAGE_BYTES};
pub use render::{PreparedTemplate, JPEG_QUALITY};
pub use template::{Align, Layer, Layout, Problem, MAX_LAYERS};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The canvas every poster has: a phone screen at 2× (WeChat's share size).
pub const WIDTH: u32 = 750;
pub const HEIGHT: u32 = 1334;

/// Largest background upload accepted, in bytes.
pub const MAX_BACKGROUND_BYTES: usize = 5 * 1024 * 1024;
/// Largest background accepted, in pixels on either side.
pub const MAX_BACKGROUND_SIDE: u32 = 6000;
/// Largest avatar accepted, in bytes (WeChat's are 10–100 KB).
pub const MAX_AVATAR_BYTES: usize = 2 * 1024 * 1024;

/// What one participant's poster is filled with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PosterFill {
    /// What the QR code encodes: the participant's personal entry (a
    /// contact way's URL, a landing page).
    pub qr_payload: String,
    /// The participant's WeChat nickname: any script, emoji included.
    pub nickname: String,
    /// Their avatar as PNG or JPEG bytes; `None` draws a coloured circle
    /// with the nickname's first character.
    #[serde(default, skip_serializing)]
    pub avatar: Option<Vec<u8>>,
    /// Values of `{name}` placeholders in text layers besides `{nickname}`.
    #[serde(default)]
    pub text_vars: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    /// The layout breaks a rule; each problem names its field.
    #[error("invalid poster template: {}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// An upload (background or avatar) over the size limits.
    #[error("{what} is too large: {detail}")]
    TooLarge { what: &'static str, detail: String },
    /// An upload that is not a PNG or JPEG koi can read.
    #[error("{what} is not a readable PNG or JPEG: {detail}")]
    BadImage { what: &'static str, detail: String },
    /// No CJK font on this machine (Debian: fonts-noto-cjk).
    #[error("no CJK font found (install fonts-noto-cjk): {0}")]
    NoFont(String),
    /// A QR payload too long for a QR code.
    #[error("the QR payload cannot be encoded: {0}")]
    Qr(String),
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
}

pub type Result<T, E = PosterError> = std::result::Result<T, E>;

/// An image drawn in code (the demo's background, the benchmark's
/// background and avatar): a vertical gradient from `top` to `bottom` with
/// a few soft light bubbles, as a `w`×`h` PNG.
pub fn gradient_png(w: u32, h: u32, top: [u8; 3], bottom: [u8; 3]) -> Vec<u8> {
    let (w, h) = (w.max(2), h.max(2));
    let bubbles = [(620.0f32, 180.0f32, 140.0f32), (90.0, 520.0, 90.0), (660.0, 860.0, 60.0), (150.0, 1180.0, 120.0)];
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let t = y as f32 / (h - 1) as f32;
        let mut px = [0f32; 3];
        for c in 0..3 {
            px[c] = top[c] as f32 * (1.0 - t) + bottom[c] as f32 * t;
        }
        for (bx, by, r) in bubbles {
            let d = ((x as f32 - bx).powi(2) + (y as f32 - by).powi(2)).sqrt();
            let a = ((r - d) / 24.0).clamp(0.0, 1.0) * 0.18;
            for v in &mut px {
                *v += (255.0 - *v) * a;
            }
        }
        image::Rgb(px.map(|v| v.round() as u8))
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("an in-memory PNG encodes");
    out.into_inner()
}
