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

mod draw;
mod fonts;
mod jpeg;
mod render;
mod template;
#[cfg(test)]
mod tests;

pub use fonts::Fonts;
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
