//! A template prepared once (background decoded, scaled, cropped and
//! pre-encoded; the regions its personal layers touch worked out), then
//! rendered per participant: draw the layers into those regions, encode
//! them, splice them into the background's JPEG.

use crate::draw::{disc, Region};
use crate::fonts::{ellipsize, width, wrap, Bitmap, Fonts, Piece};
use crate::jpeg::{block, Frame, Strip, BLOCK, MCU};
use crate::template::{line_height, parse_color, Align, Layer, Layout, Rect};
use crate::{
    PosterError, PosterFill, Result, HEIGHT, MAX_AVATAR_BYTES, MAX_BACKGROUND_BYTES, MAX_BACKGROUND_SIDE, WIDTH,
};
use image::imageops::FilterType;
use image::{ImageFormat, RgbaImage};
use std::sync::{Arc, Mutex};

/// JPEG quality of every poster: crisp text, ~150 KB a poster.
pub const JPEG_QUALITY: u8 = 85;

/// White modules around the QR inside its square.
const QR_QUIET: i32 = 2;

/// Placeholder avatars' colours, picked by the nickname.
const PALETTE: [[u8; 3]; 6] = [
    [0xf5, 0x6c, 0x6c],
    [0xf0, 0x9a, 0x3e],
    [0x4c, 0xaf, 0x7d],
    [0x3e, 0x8e, 0xd0],
    [0x8e, 0x6c, 0xd8],
    [0xd8, 0x5c, 0x9e],
];

pub struct PreparedTemplate {
    layout: Layout,
    background: Vec<u8>,
    frame: Frame,
    /// MCU-aligned, disjoint rectangles covering every layer.
    regions: Vec<Rect>,
    /// Each layer's colour (text) and disc (avatar), worked out once.
    colors: Vec<[u8; 3]>,
    discs: Vec<Vec<u8>>,
    fonts: Arc<Fonts>,
    /// MCUs met in more than one poster, encoded once (the QR's white
    /// margin and finder patterns, a common avatar, a fixed text).
    mcus: Mutex<McuCache>,
}

/// MCUs seen at most before the record of sightings starts over.
const SEEN_MAX: usize = 1 << 16;
/// Encoded MCUs kept at most (some 1.5 MB) before the cache starts over.
const KEPT_MAX: usize = 4096;

/// Encoded MCUs by their pixels. An MCU is kept the second time it is
/// seen, so one-off MCUs (a nickname, a QR's data) do not crowd out the
/// ones that recur. A hit compares the pixels in full: a hash collision
/// never splices the wrong MCU.
#[derive(Default)]
struct McuCache {
    seen: std::collections::HashSet<u64>,
    kept: std::collections::HashMap<u64, KeptMcu>,
}

/// An MCU's pixels and its entropy-coded bytes.
type KeptMcu = (Box<[u8]>, Arc<[u8]>);

impl McuCache {
    fn get(&self, hash: u64, pixels: &[u8]) -> Option<Arc<[u8]>> {
        self.kept.get(&hash).filter(|(p, _)| &p[..] == pixels).map(|(_, bytes)| bytes.clone())
    }

    fn offer(&mut self, hash: u64, pixels: &[u8], bytes: &[u8]) {
        if self.seen.len() >= SEEN_MAX {
            self.seen.clear();
        }
        if !self.seen.insert(hash) && !self.kept.contains_key(&hash) {
            if self.kept.len() >= KEPT_MAX {
                self.kept.clear();
            }
            self.kept.insert(hash, (pixels.into(), bytes.into()));
        }
    }
}

/// A quick 64-bit hash of an MCU's pixels (a hit is checked in full).
fn block_hash(b: &[u8]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for w in b.chunks_exact(8) {
        let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    }
    h
}

impl std::fmt::Debug for PreparedTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedTemplate").field("layout", &self.layout).field("regions", &self.regions.len()).finish()
    }
}

/// Reads an uploaded image, refusing what is not a PNG or JPEG or is over
/// `max_bytes` or `max_side`.
pub(crate) fn decode(what: &'static str, bytes: &[u8], max_bytes: usize, max_side: u32) -> Result<RgbaImage> {
    if bytes.len() > max_bytes {
        let detail = format!("{} bytes, at most {} MiB", bytes.len(), max_bytes / 1024 / 1024);
        return Err(PosterError::TooLarge { what, detail });
    }
    let bad = |detail: String| PosterError::BadImage { what, detail };
    let format = image::guess_format(bytes).map_err(|e| bad(e.to_string()))?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
        return Err(bad(format!("{format:?} is not PNG or JPEG")));
    }
    let reader = || image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let (w, h) = reader().into_dimensions().map_err(|e| bad(e.to_string()))?;
    if w > max_side || h > max_side {
        return Err(PosterError::TooLarge { what, detail: format!("{w}×{h} pixels, at most {max_side} a side") });
    }
    let mut r = reader();
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(512 * 1024 * 1024);
    r.limits(limits);
    Ok(r.decode().map_err(|e| bad(e.to_string()))?.to_rgba8())
}

/// `img` scaled to cover `w`×`h` and cut to it around its middle.
fn cover(img: &RgbaImage, w: u32, h: u32, filter: FilterType) -> RgbaImage {
    let (iw, ih) = img.dimensions();
    let scale = (w as f64 / iw as f64).max(h as f64 / ih as f64);
    let sw = ((iw as f64 * scale).round() as u32).max(w);
    let sh = ((ih as f64 * scale).round() as u32).max(h);
    let scaled = if (sw, sh) == (iw, ih) { img.clone() } else { image::imageops::resize(img, sw, sh, filter) };
    image::imageops::crop_imm(&scaled, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

/// For each of `n` output pixels over `len` source pixels starting at
/// `start` (fractional), the source pixels it covers and their weights in
/// 1/65536ths (summing to 65536): an area average.
fn box_weights(start: f64, len: f64, n: usize, src_len: usize) -> Vec<(usize, Vec<u32>)> {
    let step = len / n as f64;
    (0..n)
        .map(|o| {
            let (a, b) = (start + o as f64 * step, start + (o + 1) as f64 * step);
            let first = (a.floor() as usize).min(src_len - 1);
            let last = ((b.ceil() as usize).max(first + 1)).min(src_len);
            let mut w: Vec<f64> = (first..last).map(|i| (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0)).collect();
            let total: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            w.iter_mut().for_each(|x| *x /= total);
            let mut fixed: Vec<u32> = w.iter().map(|x| (x * 65536.0).round() as u32).collect();
            let sum: u32 = fixed.iter().sum();
            // Rounding leftovers go to the heaviest weight: the sum is exact.
            let heaviest = (0..fixed.len()).max_by_key(|&i| fixed[i]).unwrap_or(0);
            fixed[heaviest] = (fixed[heaviest] as i64 + 65536 - sum as i64) as u32;
            (first, fixed)
        })
        .collect()
}

/// An avatar scaled to cover a `size`×`size` square and cut around its
/// middle, as RGBA. Shrinking (WeChat's avatars are 132 or 640 pixels) is an
/// area average in integers, separable, 5–10× quicker than a float
/// filter; enlarging goes through `image`'s triangle filter.
pub(crate) fn avatar_pixels(img: &RgbaImage, size: u32) -> Vec<u8> {
    let (iw, ih) = img.dimensions();
    let side = iw.min(ih);
    if side < size {
        return cover(img, size, size, FilterType::Triangle).into_raw();
    }
    let n = size as usize;
    let (x0, y0) = ((iw - side) as f64 / 2.0, (ih - side) as f64 / 2.0);
    let xs = box_weights(x0, side as f64, n, iw as usize);
    let ys = box_weights(y0, side as f64, n, ih as usize);
    let src = img.as_raw();
    let stride = iw as usize * 4;
    // Rows first: each output row from the source rows it covers (only
    // the columns the crop keeps), then across.
    let (cx0, cx1) = (xs[0].0, xs[n - 1].0 + xs[n - 1].1.len());
    let span = (cx1 - cx0) * 4;
    let mut acc = vec![0u32; span];
    let mut rows = vec![0u16; n * span];
    for (o, (first, w)) in ys.iter().enumerate() {
        acc.fill(0);
        for (k, &wt) in w.iter().enumerate() {
            let line = &src[(first + k) * stride + cx0 * 4..(first + k) * stride + cx1 * 4];
            for (d, &v) in acc.iter_mut().zip(line) {
                *d += v as u32 * wt;
            }
        }
        // 8.8 fixed point: at most 255·256, so the next pass fits in u32.
        for (d, &a) in rows[o * span..(o + 1) * span].iter_mut().zip(&acc) {
            *d = ((a + 128) >> 8) as u16;
        }
    }
    let mut out = vec![0u8; n * n * 4];
    for (row, line) in rows.chunks_exact(span).zip(out.chunks_exact_mut(n * 4)) {
        for ((first, w), px) in xs.iter().zip(line.chunks_exact_mut(4)) {
            let mut a = [0u32; 4];
            let from = &row[(first - cx0) * 4..(first - cx0 + w.len()) * 4];
            for (p, &wt) in from.chunks_exact(4).zip(w) {
                for c in 0..4 {
                    a[c] += p[c] as u32 * wt;
                }
            }
            for c in 0..4 {
                px[c] = ((a[c] + (1 << 23)) >> 24).min(255) as u8;
            }
        }
    }
    out
}

/// `r` grown to whole MCUs (ending at the canvas's edge).
fn mcu_aligned(r: Rect) -> Rect {
    let x0 = r.x.div_euclid(MCU) * MCU;
    let y0 = r.y.div_euclid(MCU) * MCU;
    let x1 = ((r.right() + MCU - 1).div_euclid(MCU) * MCU).min(WIDTH as i32);
    let y1 = ((r.bottom() + MCU - 1).div_euclid(MCU) * MCU).min(HEIGHT as i32);
    Rect { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
}

/// Rectangles merged until no two overlap.
fn disjoint(mut rects: Vec<Rect>) -> Vec<Rect> {
    'again: loop {
        for i in 0..rects.len() {
            for j in i + 1..rects.len() {
                if rects[i].intersects(&rects[j]) {
                    let (a, b) = (rects[i], rects.swap_remove(j));
                    let (x, y) = (a.x.min(b.x), a.y.min(b.y));
                    rects[i] = Rect { x, y, w: a.right().max(b.right()) - x, h: a.bottom().max(b.bottom()) - y };
                    continue 'again;
                }
            }
        }
        return rects;
    }
}

/// The QR of `payload` in a square of `size`: its dark modules (row by
/// row), modules across, pixels a module and the offset of module 0.
pub(crate) fn qr_geometry(payload: &str, size: i32) -> Result<(Vec<bool>, i32, i32, i32)> {
    let (dark, n) = qr_modules(payload)?;
    let m = size / (n + 2 * QR_QUIET);
    if m < 2 {
        return Err(PosterError::Qr(format!("{n} modules do not fit a {size}-pixel QR")));
    }
    let offset = (size - m * n) / 2;
    Ok((dark, n, m, offset))
}

/// The QR's modules (dark or not, row by row) and its width, at level M.
///
/// The mask is fixed (pattern 0, the checkerboard) rather than chosen
/// among eight by their penalty scores: every mask decodes alike, and the
/// choice cost 0.6 ms a poster, a third of the budget.
fn qr_modules(payload: &str) -> Result<(Vec<bool>, i32)> {
    use qrcode::{bits, canvas, ec, EcLevel};
    let qr = |e: qrcode::types::QrError| PosterError::Qr(e.to_string());
    let level = EcLevel::M;
    let bits = bits::encode_auto(payload.as_bytes(), level).map_err(qr)?;
    let version = bits.version();
    let (data, ecc) = ec::construct_codewords(&bits.into_bytes(), version, level).map_err(qr)?;
    let mut c = canvas::Canvas::new(version, level);
    c.draw_all_functional_patterns();
    c.draw_data(&data, &ecc);
    c.apply_mask(canvas::MaskPattern::Checkerboard);
    let dark = c.into_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect();
    Ok((dark, version.width() as i32))
}

/// A line of text ready to draw: pen start, baseline and its pieces.
struct Line {
    x: i32,
    baseline: i32,
    pieces: Vec<Piece>,
}

/// What one layer draws for one fill.
enum Drawn {
    Qr { rect: Rect, dark: Vec<bool>, n: i32, m: i32, offset: i32 },
    Avatar { rect: Rect, rgba: Option<Vec<u8>>, color: [u8; 3], initial: Vec<Line> },
    Text { rect: Rect, color: [u8; 3], lines: Vec<Line> },
}

fn place(x: i32, max_width: i32, align: Align, pieces: Vec<Piece>, baseline: i32) -> Line {
    let w = width(&pieces);
    let dx = match align {
        Align::Left => 0,
        Align::Center => (max_width - w) / 2,
        Align::Right => max_width - w,
    };
    Line { x: x + dx, baseline, pieces }
}

/// `text` with `{nickname}` and the fill's variables put in.
fn fill_in(text: &str, fill: &PosterFill) -> String {
    let mut out = text.replace("{nickname}", &fill.nickname);
    for (k, v) in &fill.text_vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

impl PreparedTemplate {
    /// Checks the layout, decodes the background (PNG or JPEG; scaled to
    /// cover the canvas and cut around its middle, transparency over the
    /// background colour) and pre-encodes it.
    pub fn prepare(layout: &Layout, background: Option<&[u8]>, fonts: Arc<Fonts>) -> Result<PreparedTemplate> {
        let problems = layout.problems();
        if !problems.is_empty() {
            return Err(PosterError::Invalid(problems));
        }
        let base = parse_color(&layout.background_color).expect("a valid layout's colour parses");
        let mut rgb = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
        match background {
            Some(bytes) => {
                let img = decode("background", bytes, MAX_BACKGROUND_BYTES, MAX_BACKGROUND_SIDE)?;
                let img = cover(&img, WIDTH, HEIGHT, FilterType::CatmullRom);
                for p in img.pixels() {
                    let a = p[3] as u32;
                    for c in 0..3 {
                        rgb.push(((p[c] as u32 * a + base[c] as u32 * (255 - a) + 127) / 255) as u8);
                    }
                }
            }
            None => {
                for _ in 0..WIDTH * HEIGHT {
                    rgb.extend_from_slice(&base);
                }
            }
        }
        let frame = Frame::new(&rgb, WIDTH, HEIGHT, JPEG_QUALITY)?;
        let regions = disjoint(layout.layers.iter().map(|l| mcu_aligned(l.rect())).collect());
        let colors = layout
            .layers
            .iter()
            .map(|l| match l {
                Layer::Nickname { color, .. } | Layer::Text { color, .. } => {
                    parse_color(color).expect("a valid layout's colour parses")
                }
                _ => [0, 0, 0],
            })
            .collect();
        let discs = layout
            .layers
            .iter()
            .map(|l| if let Layer::Avatar { size, .. } = l { disc(*size) } else { vec![] })
            .collect();
        Ok(PreparedTemplate {
            layout: layout.clone(),
            background: rgb,
            frame,
            regions,
            colors,
            discs,
            fonts,
            mcus: Mutex::default(),
        })
    }

    /// Encoded MCUs kept for reuse (for tests).
    #[cfg(test)]
    pub(crate) fn mcus_kept(&self) -> usize {
        self.mcus.lock().unwrap_or_else(|p| p.into_inner()).kept.len()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The background alone, as a JPEG.
    pub fn background_jpeg(&self) -> &[u8] {
        self.frame.bytes()
    }

    /// One participant's poster as a 750×1334 JPEG.
    pub fn render(&self, fill: &PosterFill) -> Result<Vec<u8>> {
        let drawn = self.draw_list(fill)?;
        let mut blocks = Vec::with_capacity(1024 * BLOCK);
        let mut at = Vec::with_capacity(1024);
        for &rect in &self.regions {
            let region = self.paint(rect, &drawn);
            self.changed_blocks(&region, &mut blocks, &mut at);
        }
        // Only the MCUs the layers changed are encoded (a short nickname
        // leaves most of its box as the background was), those not met
        // before, all in one strip.
        let hashes: Vec<u64> = blocks.chunks_exact(BLOCK).map(block_hash).collect();
        let mut kept: Vec<Option<Arc<[u8]>>> = vec![None; at.len()];
        let mut fresh = Vec::new();
        {
            let cache = self.mcus.lock().unwrap_or_else(|p| p.into_inner());
            for (k, b) in blocks.chunks_exact(BLOCK).enumerate() {
                match cache.get(hashes[k], b) {
                    Some(bytes) => kept[k] = Some(bytes),
                    None => fresh.push(k),
                }
            }
        }
        let strip = match fresh.is_empty() {
            true => None,
            false => {
                let mut todo = Vec::with_capacity(fresh.len() * BLOCK);
                for &k in &fresh {
                    todo.extend_from_slice(&blocks[k * BLOCK..(k + 1) * BLOCK]);
                }
                Some(Strip::encode(&todo, JPEG_QUALITY)?)
            }
        };
        if let Some(strip) = &strip {
            let mut cache = self.mcus.lock().unwrap_or_else(|p| p.into_inner());
            for (j, &k) in fresh.iter().enumerate() {
                cache.offer(hashes[k], &blocks[k * BLOCK..(k + 1) * BLOCK], strip.mcu(j));
            }
        }
        let mut mcus: Vec<(usize, &[u8])> = Vec::with_capacity(at.len());
        for (k, bytes) in kept.iter().enumerate() {
            if let Some(bytes) = bytes {
                mcus.push((at[k], bytes));
            }
        }
        if let Some(strip) = &strip {
            mcus.extend(fresh.iter().enumerate().map(|(j, &k)| (at[k], strip.mcu(j))));
        }
        Ok(self.frame.splice(mcus))
    }

    /// Appends each MCU of `region` whose pixels differ from the
    /// background's to `blocks`, and its index in the frame to `at`.
    fn changed_blocks(&self, region: &Region, blocks: &mut Vec<u8>, at: &mut Vec<usize>) {
        let r = region.rect;
        let cols = self.frame.cols();
        for my in (r.y..r.bottom()).step_by(MCU as usize) {
            for mx in (r.x..r.right()).step_by(MCU as usize) {
                let w = MCU.min(r.right() - mx);
                let differs = (my..(my + MCU).min(r.bottom())).any(|y| {
                    let a = (((y - r.y) * r.w + (mx - r.x)) * 3) as usize;
                    let b = ((y * WIDTH as i32 + mx) * 3) as usize;
                    let n = (w * 3) as usize;
                    region.rgb[a..a + n] != self.background[b..b + n]
                });
                if differs {
                    let start = blocks.len();
                    blocks.resize(start + BLOCK, 0);
                    let (x, y) = ((mx - r.x) as usize, (my - r.y) as usize);
                    block(&region.rgb, r.w as usize, r.h as usize, x, y, &mut blocks[start..]);
                    at.push((my / MCU) as usize * cols + (mx / MCU) as usize);
                }
            }
        }
    }

    /// The poster encoded as one whole frame, without splicing: what a
    /// render costs without the pre-encoded background (for comparisons).
    pub fn render_whole_frame(&self, fill: &PosterFill) -> Result<Vec<u8>> {
        crate::jpeg::encode(&self.render_rgb(fill)?, WIDTH, HEIGHT, JPEG_QUALITY)
    }

    /// The poster as RGB pixels, drawn over the whole frame (what
    /// [`PreparedTemplate::render`] encodes, for tests and comparisons).
    pub fn render_rgb(&self, fill: &PosterFill) -> Result<Vec<u8>> {
        let drawn = self.draw_list(fill)?;
        Ok(self.paint(Rect { x: 0, y: 0, w: WIDTH as i32, h: HEIGHT as i32 }, &drawn).rgb)
    }

    /// The background's pixels of `rect` with every layer drawn over them.
    fn paint(&self, rect: Rect, drawn: &[Drawn]) -> Region {
        let mut rgb = Vec::with_capacity((rect.w * rect.h * 3) as usize);
        for y in rect.y..rect.bottom() {
            let start = ((y * WIDTH as i32 + rect.x) * 3) as usize;
            rgb.extend_from_slice(&self.background[start..start + (rect.w * 3) as usize]);
        }
        let mut region = Region { rect, rgb };
        for (i, d) in drawn.iter().enumerate() {
            match d {
                Drawn::Qr { rect: r, dark, n, m, offset } => {
                    if !r.intersects(&rect) {
                        continue;
                    }
                    region.fill(*r, [255, 255, 255]);
                    for (k, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
                        let (c, row) = (k as i32 % n, k as i32 / n);
                        let cell = Rect { x: r.x + offset + c * m, y: r.y + offset + row * m, w: *m, h: *m };
                        region.fill(cell, [0, 0, 0]);
                    }
                }
                Drawn::Avatar { rect: r, rgba, color, initial } => {
                    if !r.intersects(&rect) {
                        continue;
                    }
                    let disc = &self.discs[i];
                    match rgba {
                        Some(px) => region.rgba(r.x, r.y, r.w, r.h, px, Some(disc), *r),
                        None => {
                            region.mask(r.x, r.y, r.w, r.h, disc, *color, *r);
                            draw_lines(&mut region, initial, [255, 255, 255], *r);
                        }
                    }
                }
                Drawn::Text { rect: r, color, lines } => {
                    if r.intersects(&rect) {
                        draw_lines(&mut region, lines, *color, *r);
                    }
                }
            }
        }
        region
    }

    /// Each layer's drawing for `fill`, worked out once for all regions.
    fn draw_list(&self, fill: &PosterFill) -> Result<Vec<Drawn>> {
        let fonts = &self.fonts;
        let mut out = Vec::with_capacity(self.layout.layers.len());
        for (i, layer) in self.layout.layers.iter().enumerate() {
            let rect = layer.rect();
            out.push(match *layer {
                Layer::Qr { size, .. } => {
                    let (dark, n, m, offset) = qr_geometry(&fill.qr_payload, size)?;
                    Drawn::Qr { rect, dark, n, m, offset }
                }
                Layer::Avatar { size, .. } => {
                    // An avatar that cannot be read gets the placeholder: the
                    // poster still goes out.
                    let rgba = fill
                        .avatar
                        .as_deref()
                        .and_then(|b| decode("avatar", b, MAX_AVATAR_BYTES, 4096).ok())
                        .map(|img| avatar_pixels(&img, size as u32));
                    let (color, initial) =
                        if rgba.is_none() { self.placeholder(&fill.nickname, rect) } else { ([0; 3], vec![]) };
                    Drawn::Avatar { rect, rgba, color, initial }
                }
                Layer::Nickname { x, y, size, max_width, align, .. } => {
                    let ellipsis = fonts.pieces("…", size);
                    let pieces = ellipsize(fonts.pieces(fill.nickname.trim(), size), max_width, &ellipsis);
                    let baseline = Fonts::baseline(y, line_height(size), size);
                    Drawn::Text {
                        rect,
                        color: self.colors[i],
                        lines: vec![place(x, max_width, align, pieces, baseline)],
                    }
                }
                Layer::Text { x, y, size, max_width, max_lines, align, ref text, .. } => {
                    let text = fill_in(text, fill);
                    let mut wrapped = wrap(fonts.pieces(&text, size), max_width);
                    if wrapped.len() > max_lines as usize {
                        wrapped.truncate(max_lines as usize);
                        let last = wrapped.pop().expect("max_lines is at least 1");
                        let mut longer = last;
                        // Mark the cut even when the last line had room.
                        longer.push(Piece { advance: max_width + 1, ..fonts.pieces(" ", size).remove(0) });
                        wrapped.push(ellipsize(longer, max_width, &fonts.pieces("…", size)));
                    }
                    let lh = line_height(size);
                    let lines = wrapped
                        .into_iter()
                        .enumerate()
                        .map(|(k, p)| place(x, max_width, align, p, Fonts::baseline(y + k as i32 * lh, lh, size)))
                        .collect();
                    Drawn::Text { rect, color: self.colors[i], lines }
                }
            });
        }
        Ok(out)
    }

    /// A placeholder avatar: a colour picked by the nickname, and its first
    /// character in white.
    fn placeholder(&self, nickname: &str, r: Rect) -> ([u8; 3], Vec<Line>) {
        let hash = nickname.bytes().fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
        let color = PALETTE[hash as usize % PALETTE.len()];
        let first: String = nickname.trim().chars().take(1).flat_map(char::to_uppercase).collect();
        let first = if first.is_empty() { "?".to_string() } else { first };
        let size = r.w * 45 / 100;
        let pieces = self.fonts.pieces(&first, size);
        let baseline = r.y + r.h / 2 + size * 38 / 100;
        (color, vec![place(r.x, r.w, Align::Center, pieces, baseline)])
    }
}

fn draw_lines(region: &mut Region, lines: &[Line], color: [u8; 3], clip: Rect) {
    for line in lines {
        let mut pen = line.x;
        for p in &line.pieces {
            match &*p.bitmap {
                Bitmap::Mask { left, top, w, h, data } => {
                    region.mask(pen + left, line.baseline + top, *w, *h, data, color, clip)
                }
                Bitmap::Color { left, top, w, h, data } => {
                    region.rgba(pen + left, line.baseline + top, *w, *h, data, None, clip)
                }
                Bitmap::Empty => {}
            }
            pen += p.advance;
        }
    }
}
