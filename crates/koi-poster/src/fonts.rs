//! The fonts posters are written in, found on the machine at run time (koi
//! ships none): a CJK font (Debian's fonts-noto-cjk, which also covers
//! Latin, Cyrillic, Greek, kana and Hangul) and, when installed, the colour
//! emoji font (fonts-noto-color-emoji), whose glyphs are PNG bitmaps.
//!
//! Glyphs are drawn one character at a time, without shaping: an emoji
//! sequence joined by ZWJ shows as its parts, skin-tone modifiers and
//! variation selectors are dropped. Rasterised glyphs are cached by (font,
//! glyph, size), so a poster's text costs lookups once its glyphs were seen.

use crate::{PosterError, Result};
use ab_glyph::{Font, FontArc, FontVec, GlyphId, PxScale, ScaleFont};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// CJK fonts koi looks for, best first, with the face to take from a
/// collection (Noto Sans CJK's third face is Simplified Chinese).
const CJK_FILES: &[(&str, u32)] = &[
    ("NotoSansCJK-Regular.ttc", 2),
    ("NotoSansCJKsc-Regular.otf", 0),
    ("NotoSansSC-Regular.otf", 0),
    ("NotoSerifCJK-Regular.ttc", 2),
    ("wqy-microhei.ttc", 0),
    ("wqy-zenhei.ttc", 0),
    ("DroidSansFallbackFull.ttf", 0),
];
const EMOJI_FILES: &[&str] = &["NotoColorEmoji.ttf"];

/// Cached glyphs at most; the cache starts over past this.
const CACHE_MAX: usize = 8192;

/// A rasterised glyph, placed relative to the pen on the baseline.
pub(crate) enum Bitmap {
    /// Coverage, painted in the text's colour.
    Mask { left: i32, top: i32, w: i32, h: i32, data: Vec<u8> },
    /// A colour emoji (RGBA).
    Color { left: i32, top: i32, w: i32, h: i32, data: Vec<u8> },
    /// Nothing to draw (a space).
    Empty,
}

/// One character ready to draw: its bitmap and how far the pen moves.
#[derive(Clone)]
pub(crate) struct Piece {
    pub bitmap: Arc<Bitmap>,
    pub advance: i32,
    /// A place a line may break after (a space, a CJK character).
    pub breaks_after: bool,
    pub is_space: bool,
}

pub struct Fonts {
    cjk: FontArc,
    emoji: Option<FontArc>,
    /// Where the fonts were found, for logs and the benchmark's comparators.
    pub cjk_path: PathBuf,
    pub cjk_index: u32,
    pub emoji_path: Option<PathBuf>,
    cache: Mutex<HashMap<(bool, u16, u16), Arc<Bitmap>>>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts").field("cjk", &self.cjk_path).field("emoji", &self.emoji_path).finish()
    }
}

/// The usual font folders of a Linux machine, `KOI_FONT_DIR` first.
fn font_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("KOI_FONT_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push("/usr/share/fonts".into());
    dirs.push("/usr/local/share/fonts".into());
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/share/fonts"));
        dirs.push(Path::new(&home).join(".fonts"));
    }
    dirs
}

/// The first file named one of `names` under `dirs` (a few levels deep),
/// preferring earlier names.
fn find(dirs: &[PathBuf], names: &[&str]) -> Option<(usize, PathBuf)> {
    fn walk(dir: &Path, depth: u32, names: &[&str], best: &mut Option<(usize, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                if depth < 5 {
                    walk(&path, depth + 1, names, best);
                }
            } else if let Some(i) =
                path.file_name().and_then(|n| n.to_str()).and_then(|n| names.iter().position(|x| *x == n))
            {
                if best.as_ref().is_none_or(|(b, _)| i < *b) {
                    *best = Some((i, path));
                }
            }
        }
    }
    let mut best = None;
    for d in dirs {
        walk(d, 0, names, &mut best);
    }
    best
}

fn load(path: &Path, index: u32) -> Result<FontArc> {
    let bytes = std::fs::read(path).map_err(|e| PosterError::NoFont(format!("{}: {e}", path.display())))?;
    let font = FontVec::try_from_vec_and_index(bytes, index)
        .map_err(|e| PosterError::NoFont(format!("{}: {e}", path.display())))?;
    Ok(FontArc::new(font))
}

/// Whether `c` is drawn from the emoji font: pictographs, and symbols asked
/// to be shown as emoji (followed by U+FE0F).
fn wants_emoji(c: char, next: Option<char>) -> bool {
    let u = c as u32;
    (0x1F000..=0x1FAFF).contains(&u) || (matches!(u, 0x2190..=0x2BFF | 0x3030 | 0x303D) && next == Some('\u{FE0F}'))
}

/// Characters drawn as nothing: joiners, variation selectors, skin tones.
fn invisible(c: char) -> bool {
    matches!(c as u32, 0x200B..=0x200F | 0xFE00..=0xFE0F | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F) || c.is_control()
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

impl Fonts {
    /// Finds the fonts in the machine's font folders.
    pub fn system() -> Result<Fonts> {
        let dirs = font_dirs();
        let names: Vec<&str> = CJK_FILES.iter().map(|(n, _)| *n).collect();
        let (i, cjk) =
            find(&dirs, &names).ok_or_else(|| PosterError::NoFont(format!("none of {names:?} under {dirs:?}")))?;
        let emoji = find(&dirs, EMOJI_FILES).map(|(_, p)| p);
        Fonts::from_files(&cjk, CJK_FILES[i].1, emoji.as_deref())
    }

    /// The fonts in these files (an emoji font that does not load is left out).
    pub fn from_files(cjk: &Path, cjk_index: u32, emoji: Option<&Path>) -> Result<Fonts> {
        let cjk_font = load(cjk, cjk_index)?;
        let emoji_font = emoji.and_then(|p| load(p, 0).ok());
        Ok(Fonts {
            cjk: cjk_font,
            emoji_path: emoji_font.as_ref().and(emoji.map(Path::to_path_buf)),
            emoji: emoji_font,
            cjk_path: cjk.to_path_buf(),
            cjk_index,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The same CJK font without colour emoji (how a machine without
    /// fonts-noto-color-emoji renders).
    pub fn without_emoji(&self) -> Fonts {
        Fonts {
            cjk: self.cjk.clone(),
            emoji: None,
            cjk_path: self.cjk_path.clone(),
            cjk_index: self.cjk_index,
            emoji_path: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn has_emoji(&self) -> bool {
        self.emoji.is_some()
    }

    /// The scale at which the CJK font's em square is `size` pixels.
    fn scale(&self, size: i32) -> PxScale {
        let f = &self.cjk;
        let em = f.units_per_em().unwrap_or(1000.0);
        PxScale::from(size as f32 * f.height_unscaled() / em)
    }

    fn cached(&self, emoji: bool, gid: GlyphId, size: i32, make: impl FnOnce() -> Bitmap) -> Arc<Bitmap> {
        let key = (emoji, gid.0, size as u16);
        if let Some(b) = self.cache.lock().expect("the glyph cache is never poisoned").get(&key) {
            return b.clone();
        }
        let b = Arc::new(make());
        let mut cache = self.cache.lock().expect("the glyph cache is never poisoned");
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, b.clone());
        b
    }

    fn outline(&self, gid: GlyphId, size: i32) -> Arc<Bitmap> {
        self.cached(false, gid, size, || {
            let glyph = gid.with_scale_and_position(self.scale(size), ab_glyph::point(0.0, 0.0));
            let Some(o) = self.cjk.outline_glyph(glyph) else { return Bitmap::Empty };
            let b = o.px_bounds();
            let (w, h) = (b.width() as i32, b.height() as i32);
            let mut data = vec![0u8; (w * h).max(0) as usize];
            o.draw(|x, y, c| {
                if let Some(p) = data.get_mut((y as i32 * w + x as i32) as usize) {
                    *p = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            });
            Bitmap::Mask { left: b.min.x as i32, top: b.min.y as i32, w, h, data }
        })
    }

    /// A colour emoji, `size` pixels high, centred on the CJK ink's middle.
    fn emoji_bitmap(&self, font: &FontArc, gid: GlyphId, size: i32) -> Option<Arc<Bitmap>> {
        let key = (true, gid.0, size as u16);
        if let Some(b) = self.cache.lock().expect("the glyph cache is never poisoned").get(&key) {
            return Some(b.clone());
        }
        let image = font.glyph_raster_image2(gid, u16::MAX)?;
        if !matches!(image.format, ab_glyph::GlyphImageFormat::Png) {
            return None;
        }
        let rgba = decode_png(image.data)?;
        Some(self.cached(true, gid, size, || {
            let h = size.max(1) as u32;
            let w = ((rgba.width() as u64 * h as u64) / rgba.height().max(1) as u64).max(1) as u32;
            let scaled = image::imageops::resize(&rgba, w, h, image::imageops::FilterType::Triangle);
            let top = -(size * 38 / 100) - size / 2;
            Bitmap::Color { left: 0, top, w: w as i32, h: h as i32, data: scaled.into_raw() }
        }))
    }

    /// The pieces of `text` at `size` pixels (em), in order.
    pub(crate) fn pieces(&self, text: &str, size: i32) -> Vec<Piece> {
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::with_capacity(chars.len());
        let scaled = self.cjk.as_scaled(self.scale(size));
        for (i, &c) in chars.iter().enumerate() {
            if invisible(c) {
                continue;
            }
            let next = chars.get(i + 1).copied();
            let cjk_gid = self.cjk.glyph_id(c);
            if let Some(font) = &self.emoji {
                let gid = font.glyph_id(c);
                if gid.0 != 0 && (wants_emoji(c, next) || cjk_gid.0 == 0) {
                    if let Some(bitmap) = self.emoji_bitmap(font, gid, size) {
                        let advance = match &*bitmap {
                            Bitmap::Color { w, .. } => *w + size / 12,
                            _ => size,
                        };
                        out.push(Piece { bitmap, advance, breaks_after: true, is_space: false });
                        continue;
                    }
                }
            }
            let is_space = c.is_whitespace();
            let bitmap = if is_space { Arc::new(Bitmap::Empty) } else { self.outline(cjk_gid, size) };
            let advance = scaled.h_advance(cjk_gid).round() as i32;
            out.push(Piece { bitmap, advance, breaks_after: is_space || is_cjk(c), is_space });
        }
        out
    }

    /// The baseline of a line whose box starts at `top`, for `size` pixels.
    pub(crate) fn baseline(top: i32, line_height: i32, size: i32) -> i32 {
        top + line_height / 2 + size * 38 / 100
    }
}

fn decode_png(data: &[u8]) -> Option<image::RgbaImage> {
    let img = image::load_from_memory_with_format(data, image::ImageFormat::Png).ok()?;
    Some(img.to_rgba8())
}

/// The total advance of `pieces`.
pub(crate) fn width(pieces: &[Piece]) -> i32 {
    pieces.iter().map(|p| p.advance).sum()
}

/// `pieces` cut to `max` pixels with `ellipsis` (itself the pieces of "…")
/// at the end when they do not fit.
pub(crate) fn ellipsize(mut pieces: Vec<Piece>, max: i32, ellipsis: &[Piece]) -> Vec<Piece> {
    if width(&pieces) <= max {
        return pieces;
    }
    let room = max - width(ellipsis);
    let mut used = 0;
    let keep = pieces.iter().take_while(|p| {
        used += p.advance;
        used <= room
    });
    let n = keep.count();
    pieces.truncate(n);
    while pieces.last().is_some_and(|p| p.is_space) {
        pieces.pop();
    }
    pieces.extend_from_slice(ellipsis);
    pieces
}

/// `pieces` broken into lines of at most `max` pixels: after a space or a
/// CJK character where one is near, else anywhere. Spaces at a line's
/// start are dropped.
pub(crate) fn wrap(pieces: Vec<Piece>, max: i32) -> Vec<Vec<Piece>> {
    let mut lines = Vec::new();
    let mut line: Vec<Piece> = Vec::new();
    let mut used = 0;
    for p in pieces {
        if line.is_empty() && p.is_space {
            continue;
        }
        if used + p.advance > max && !line.is_empty() {
            // Break at the last break opportunity, else here.
            let cut = line.iter().rposition(|q| q.breaks_after).map_or(line.len(), |i| i + 1);
            let rest = line.split_off(cut);
            while line.last().is_some_and(|q| q.is_space) {
                line.pop();
            }
            lines.push(std::mem::take(&mut line));
            line = rest.into_iter().skip_while(|q| q.is_space).collect();
            used = width(&line);
            if p.is_space && line.is_empty() {
                continue;
            }
        }
        used += p.advance;
        line.push(p);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
