//! A poster template's layout: the background colour (behind an uploaded
//! image, or alone) and the layers drawn over it, in order, each at a fixed
//! place on the 750×1334 canvas.

use crate::{HEIGHT, WIDTH};
use serde::{Deserialize, Serialize};

/// At most this many layers a template.
pub const MAX_LAYERS: usize = 12;
/// Longest free text a layer holds, in characters.
const MAX_TEXT_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Layout {
    /// `#rrggbb`: the whole background when no image is uploaded.
    #[serde(default = "default_background")]
    pub background_color: String,
    /// Drawn in order: a later layer covers an earlier one.
    pub layers: Vec<Layer>,
}

fn default_background() -> String {
    "#ffffff".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// One thing drawn on the poster; `x`, `y` are its box's top-left corner
/// in canvas pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Layer {
    /// The participant's QR code in a white square of `size` pixels.
    Qr { x: i32, y: i32, size: i32 },
    /// The participant's avatar, cut round, `size` pixels across.
    Avatar { x: i32, y: i32, size: i32 },
    /// The nickname on one line of `max_width` pixels, cut with "…".
    Nickname {
        x: i32,
        y: i32,
        /// Font size in pixels.
        size: i32,
        #[serde(default = "default_color")]
        color: String,
        max_width: i32,
        #[serde(default)]
        align: Align,
    },
    /// Free text; `{nickname}` (and other fill variables) are replaced, and
    /// it wraps within `max_width` over at most `max_lines` lines.
    Text {
        x: i32,
        y: i32,
        size: i32,
        #[serde(default = "default_color")]
        color: String,
        max_width: i32,
        #[serde(default = "default_lines")]
        max_lines: i32,
        #[serde(default)]
        align: Align,
        text: String,
    },
}

fn default_color() -> String {
    "#222222".into()
}

fn default_lines() -> i32 {
    2
}

/// One broken rule of a layout, naming the field (`layers.2.x`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// The height of one line of text at `size` pixels.
pub(crate) fn line_height(size: i32) -> i32 {
    (size * 13 + 9) / 10
}

/// A rectangle on the canvas, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn right(&self) -> i32 {
        self.x + self.w
    }
    pub fn bottom(&self) -> i32 {
        self.y + self.h
    }
    pub fn intersects(&self, o: &Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }
}

impl Layer {
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Qr { .. } => "qr",
            Layer::Avatar { .. } => "avatar",
            Layer::Nickname { .. } => "nickname",
            Layer::Text { .. } => "text",
        }
    }

    /// The box the layer draws in (and nowhere else).
    pub(crate) fn rect(&self) -> Rect {
        match *self {
            Layer::Qr { x, y, size } | Layer::Avatar { x, y, size } => Rect { x, y, w: size, h: size },
            Layer::Nickname { x, y, size, max_width, .. } => Rect { x, y, w: max_width, h: line_height(size) },
            Layer::Text { x, y, size, max_width, max_lines, .. } => {
                Rect { x, y, w: max_width, h: line_height(size) * max_lines }
            }
        }
    }
}

/// `#rrggbb` or `#rgb` as RGB.
pub(crate) fn parse_color(s: &str) -> Option<[u8; 3]> {
    let hex = s.trim().strip_prefix('#')?;
    let digit = |i: usize, len: usize| u8::from_str_radix(hex.get(i..i + len)?, 16).ok();
    match hex.len() {
        6 => Some([digit(0, 2)?, digit(2, 2)?, digit(4, 2)?]),
        3 => Some([digit(0, 1)? * 17, digit(1, 1)? * 17, digit(2, 1)? * 17]),
        _ => None,
    }
}

impl Layout {
    /// Every broken rule (empty when the layout is good): layers inside the
    /// canvas, sizes a poster can show, colours that parse, at most one QR.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |field: String, code: &'static str, message: String| out.push(Problem { field, code, message });
        if parse_color(&self.background_color).is_none() {
            bad("background_color".into(), "bad_color", format!("{:?} is not a #rrggbb colour", self.background_color));
        }
        if self.layers.len() > MAX_LAYERS {
            bad("layers".into(), "too_many", format!("at most {MAX_LAYERS} layers"));
        }
        if self.layers.iter().filter(|l| matches!(l, Layer::Qr { .. })).count() > 1 {
            bad("layers".into(), "two_qr_codes", "a poster has one QR code".into());
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let f = |name: &str| format!("layers.{i}.{name}");
            let (min, max, name) = match layer {
                Layer::Qr { .. } => (80, 750, "size"),
                Layer::Avatar { .. } => (24, 600, "size"),
                Layer::Nickname { .. } | Layer::Text { .. } => (10, 160, "size"),
            };
            let size = match *layer {
                Layer::Qr { size, .. }
                | Layer::Avatar { size, .. }
                | Layer::Nickname { size, .. }
                | Layer::Text { size, .. } => size,
            };
            if !(min..=max).contains(&size) {
                bad(f(name), "out_of_range", format!("layer {i}: size must be {min}–{max} pixels"));
                continue;
            }
            if let Layer::Nickname { color, max_width, .. } | Layer::Text { color, max_width, .. } = layer {
                if parse_color(color).is_none() {
                    bad(f("color"), "bad_color", format!("layer {i}: {color:?} is not a #rrggbb colour"));
                }
                if *max_width < size {
                    bad(f("max_width"), "out_of_range", format!("layer {i}: max_width must be at least the size"));
                    continue;
                }
            }
            if let Layer::Text { max_lines, text, .. } = layer {
                if !(1..=10).contains(max_lines) {
                    bad(f("max_lines"), "out_of_range", format!("layer {i}: max_lines must be 1–10"));
                    continue;
                }
                if text.chars().count() > MAX_TEXT_CHARS {
                    bad(f("text"), "too_long", format!("layer {i}: at most {MAX_TEXT_CHARS} characters"));
                }
            }
            let r = layer.rect();
            if r.x < 0 || r.y < 0 || r.right() > WIDTH as i32 || r.bottom() > HEIGHT as i32 {
                bad(
                    f("x"),
                    "outside_canvas",
                    format!(
                        "layer {i} ({}) at {},{} size {}×{} leaves the {WIDTH}×{HEIGHT} canvas",
                        layer.kind(),
                        r.x,
                        r.y,
                        r.w,
                        r.h
                    ),
                );
            }
        }
        out
    }

    /// A template to start from: a QR at the bottom, the avatar and the
    /// nickname at the top, one line of text under them.
    pub fn starter() -> Layout {
        Layout {
            background_color: "#ff7a45".into(),
            layers: vec![
                Layer::Avatar { x: 48, y: 60, size: 120 },
                Layer::Nickname {
                    x: 192,
                    y: 82,
                    size: 40,
                    color: "#ffffff".into(),
                    max_width: 500,
                    align: Align::Left,
                },
                Layer::Text {
                    x: 48,
                    y: 220,
                    size: 36,
                    color: "#ffffff".into(),
                    max_width: 654,
                    max_lines: 2,
                    align: Align::Left,
                    text: "{nickname} 邀请你一起领好礼".into(),
                },
                Layer::Qr { x: 255, y: 1000, size: 240 },
            ],
        }
    }

    /// A distributor's product poster: the product's picture (the avatar
    /// layer, cut round) at the top, `{product}` and `{price}` under it,
    /// `{campaign}` when the distributor came from one, "{nickname} 推荐",
    /// and the QR of the distributor's share link.
    pub fn distributor() -> Layout {
        let text = |y: i32, size: i32, lines: i32, color: &str, text: &str| Layer::Text {
            x: 40,
            y,
            size,
            color: color.into(),
            max_width: 670,
            max_lines: lines,
            align: Align::Center,
            text: text.into(),
        };
        Layout {
            background_color: "#e8453c".into(),
            layers: vec![
                Layer::Avatar { x: 175, y: 80, size: 400 },
                text(520, 44, 2, "#ffffff", "{product}"),
                text(660, 64, 1, "#fff3b0", "{price}"),
                text(770, 30, 1, "#ffe3e0", "{campaign}"),
                text(830, 32, 1, "#ffffff", "{nickname} 推荐"),
                Layer::Qr { x: 255, y: 920, size: 260 },
                text(1220, 28, 1, "#ffe3e0", "长按识别二维码"),
            ],
        }
    }

    /// The printable poster of a group code when the operator picks no
    /// template: the code's title (the fill's nickname) large at the top,
    /// `{store}` under it, a large QR in the middle, a line telling what to do.
    pub fn group_code() -> Layout {
        let text = |y: i32, size: i32, color: &str, text: &str| Layer::Text {
            x: 40,
            y,
            size,
            color: color.into(),
            max_width: 670,
            max_lines: 1,
            align: Align::Center,
            text: text.into(),
        };
        Layout {
            background_color: "#07c160".into(),
            layers: vec![
                Layer::Nickname {
                    x: 40,
                    y: 120,
                    size: 64,
                    color: "#ffffff".into(),
                    max_width: 670,
                    align: Align::Center,
                },
                text(230, 40, "#e8fff1", "{store}"),
                Layer::Qr { x: 135, y: 400, size: 480 },
                text(950, 40, "#ffffff", "{hint}"),
                text(1030, 30, "#e8fff1", "{sub}"),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_is_good_and_survives_json() {
        let l = Layout::starter();
        assert_eq!(l.problems(), vec![]);
        let json = serde_json::to_string(&l).expect("json");
        assert!(json.contains("\"kind\":\"qr\""), "{json}");
        assert_eq!(serde_json::from_str::<Layout>(&json).expect("back"), l);
    }

    #[test]
    fn the_group_code_layout_is_good() {
        assert_eq!(Layout::group_code().problems(), vec![]);
    }

    #[test]
    fn a_layer_outside_the_canvas_is_refused() {
        let mut l = Layout::starter();
        l.layers.push(Layer::Avatar { x: 700, y: 10, size: 100 });
        let p = l.problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].field.as_str(), p[0].code), ("layers.4.x", "outside_canvas"));
        let mut l = Layout::starter();
        l.layers[3] = Layer::Qr { x: 0, y: -1, size: 200 };
        assert_eq!(l.problems()[0].code, "outside_canvas");
        // A text's box is all its lines.
        l.layers[3] = Layer::Text {
            x: 0,
            y: 1320,
            size: 20,
            color: "#000".into(),
            max_width: 100,
            max_lines: 1,
            align: Align::Left,
            text: "x".into(),
        };
        assert_eq!(l.problems()[0].code, "outside_canvas");
    }

    #[test]
    fn bad_sizes_colours_and_two_qr_codes_are_refused() {
        let mut l = Layout::starter();
        l.background_color = "red".into();
        l.layers.push(Layer::Qr { x: 0, y: 0, size: 100 });
        l.layers[0] = Layer::Avatar { x: 0, y: 0, size: 2 };
        let codes: Vec<_> = l.problems().iter().map(|p| p.code).collect();
        assert_eq!(codes, vec!["bad_color", "two_qr_codes", "out_of_range"]);
        assert_eq!(parse_color("#fff"), Some([255, 255, 255]));
        assert_eq!(parse_color("#12ab3C"), Some([0x12, 0xab, 0x3c]));
        assert_eq!(parse_color("#12ab3"), None);
    }
}
