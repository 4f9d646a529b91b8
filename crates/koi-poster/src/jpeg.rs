//! Why a poster costs less than encoding a whole 750×1334 frame: the
//! background is encoded once per template with a restart marker after
//! every MCU (16×16 pixels at 4:2:0), which makes each MCU's entropy-coded
//! bytes independent of the others (the DC predictions start over at each
//! marker). A render gathers only the MCUs its personal layers changed,
//! side by side into one small image (a *strip*), encodes that once with
//! the same tables, and splices each of its MCUs in place of the
//! background's, renumbering the markers (RST0…RST7 in turn).
//!
//! An MCU's bytes depend only on its own pixels (colour conversion, 2×2
//! chroma averaging, DCT and quantisation are all per MCU), so an MCU may
//! be encoded anywhere: in the strip, one at the canvas's right or bottom
//! edge is padded as the encoder pads the frame's edge (the last pixel
//! repeated, [`block`]). A spliced poster is therefore byte for byte the
//! JPEG of the whole frame: `tests::a_spliced_frame_is_the_whole_frame_encoded`
//! holds it to that.

use crate::{PosterError, Result};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use std::ops::Range;

/// An MCU's side in pixels (4:2:0 sampling).
pub(crate) const MCU: i32 = 16;

/// `rgb` (`w`×`h`) as a baseline JPEG, 4:2:0, a restart marker every MCU.
pub(crate) fn encode(rgb: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(rgb.len() / 6);
    let mut enc = Encoder::new(&mut out, quality);
    enc.set_sampling_factor(SamplingFactor::F_2_2);
    enc.set_restart_interval(1);
    let (w, h) = (u16::try_from(w), u16::try_from(h));
    let (Ok(w), Ok(h)) = (w, h) else { return Err(PosterError::Encode("image too large".into())) };
    enc.encode(rgb, w, h, ColorType::Rgb).map_err(|e| PosterError::Encode(e.to_string()))?;
    Ok(out)
}

/// A JPEG cut at its restart markers: where the entropy-coded data starts,
/// and each MCU's bytes (without its marker).
pub(crate) struct Cut {
    pub header_end: usize,
    pub mcus: Vec<Range<usize>>,
}

fn bad(what: &str) -> PosterError {
    PosterError::Encode(format!("unexpected JPEG structure: {what}"))
}

/// Cuts a JPEG made by [`encode`] into its MCUs.
pub(crate) fn cut(jpeg: &[u8]) -> Result<Cut> {
    let be16 = |i: usize| -> Result<usize> {
        Ok(u16::from_be_bytes([
            *jpeg.get(i).ok_or_else(|| bad("short"))?,
            *jpeg.get(i + 1).ok_or_else(|| bad("short"))?,
        ]) as usize)
    };
    if jpeg.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(bad("no SOI"));
    }
    let mut i = 2;
    let header_end = loop {
        if jpeg.get(i) != Some(&0xFF) {
            return Err(bad("no marker"));
        }
        let marker = *jpeg.get(i + 1).ok_or_else(|| bad("short"))?;
        let len = be16(i + 2)?;
        i += 2 + len;
        if marker == 0xDA {
            break i;
        }
    };
    let mut mcus = Vec::new();
    let mut start = header_end;
    let mut i = header_end;
    while i + 1 < jpeg.len() {
        if jpeg[i] != 0xFF {
            i += 1;
            continue;
        }
        match jpeg[i + 1] {
            0x00 => i += 2,
            0xD0..=0xD7 => {
                mcus.push(start..i);
                i += 2;
                start = i;
            }
            0xD9 => {
                mcus.push(start..i);
                return Ok(Cut { header_end, mcus });
            }
            _ => return Err(bad("marker inside the scan")),
        }
    }
    Err(bad("no EOI"))
}

/// A frame pre-encoded with a marker after every MCU, ready to take a strip.
pub(crate) struct Frame {
    jpeg: Vec<u8>,
    cut: Cut,
    /// MCUs across.
    cols: usize,
}

/// The bytes of one MCU: 16×16 RGB pixels, row by row.
pub(crate) const BLOCK: usize = (MCU * MCU * 3) as usize;

/// MCUs a strip row holds.
const STRIP_COLS: usize = 32;

/// Copies the MCU whose top-left pixel is (`x`, `y`) of `rgb` (`w`×`h`,
/// row by row) into `out` (a [`BLOCK`]), repeating the last column and row
/// where the image ends inside it, as the encoder pads a frame's edge.
pub(crate) fn block(rgb: &[u8], w: usize, h: usize, x: usize, y: usize, out: &mut [u8]) {
    let m = MCU as usize;
    let cols = (w - x).min(m);
    for dy in 0..m {
        let sy = (y + dy).min(h - 1);
        let src = &rgb[(sy * w + x) * 3..(sy * w + x + cols) * 3];
        let dst = &mut out[dy * m * 3..(dy + 1) * m * 3];
        dst[..cols * 3].copy_from_slice(src);
        for dx in cols..m {
            dst.copy_within((cols - 1) * 3..cols * 3, dx * 3);
        }
    }
}

/// MCUs encoded together: `blocks` ([`BLOCK`] bytes each) laid side by
/// side, [`STRIP_COLS`] a row, as one JPEG cut into its MCUs (the first
/// `blocks.len() / BLOCK` are the blocks, in order).
pub(crate) struct Strip {
    pub jpeg: Vec<u8>,
    pub cut: Cut,
}

impl Strip {
    /// The entropy-coded bytes of the strip's `i`-th MCU.
    pub fn mcu(&self, i: usize) -> &[u8] {
        &self.jpeg[self.cut.mcus[i].clone()]
    }

    pub fn encode(blocks: &[u8], quality: u8) -> Result<Strip> {
        let m = MCU as usize;
        let k = blocks.len() / BLOCK;
        let cols = k.clamp(1, STRIP_COLS);
        let rows = k.div_ceil(cols).max(1);
        let w = cols * m;
        let mut img = vec![0u8; w * rows * m * 3];
        for (i, b) in blocks.chunks_exact(BLOCK).enumerate() {
            let (r, c) = (i / cols, i % cols);
            for dy in 0..m {
                let at = ((r * m + dy) * w + c * m) * 3;
                img[at..at + m * 3].copy_from_slice(&b[dy * m * 3..(dy + 1) * m * 3]);
            }
        }
        let jpeg = encode(&img, w as u32, (rows * m) as u32, quality)?;
        let cut = cut(&jpeg)?;
        if cut.mcus.len() != cols * rows {
            return Err(bad("strip MCU count"));
        }
        Ok(Strip { jpeg, cut })
    }
}

impl Frame {
    pub fn new(rgb: &[u8], w: u32, h: u32, quality: u8) -> Result<Frame> {
        let jpeg = encode(rgb, w, h, quality)?;
        let cut = cut(&jpeg)?;
        let cols = w.div_ceil(MCU as u32) as usize;
        let rows = h.div_ceil(MCU as u32) as usize;
        if cut.mcus.len() != cols * rows {
            return Err(bad("MCU count"));
        }
        Ok(Frame { jpeg, cut, cols })
    }

    /// The frame as a JPEG, alone.
    pub fn bytes(&self) -> &[u8] {
        &self.jpeg
    }

    /// MCUs across.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The frame with MCUs in place of its own: each `(i, bytes)` puts an
    /// MCU's entropy-coded bytes (from a [`Strip`] or kept from one) at
    /// the frame's MCU `i` (row by row).
    pub fn splice<'a>(&'a self, mcus: impl IntoIterator<Item = (usize, &'a [u8])>) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = self.cut.mcus.iter().map(|r| &self.jpeg[r.clone()]).collect();
        for (i, bytes) in mcus {
            parts[i] = bytes;
        }
        let body: usize = parts.iter().map(|s| s.len() + 2).sum();
        let mut out = Vec::with_capacity(self.cut.header_end + body + 2);
        out.extend_from_slice(&self.jpeg[..self.cut.header_end]);
        let last = parts.len() - 1;
        for (k, s) in parts.iter().enumerate() {
            out.extend_from_slice(s);
            if k < last {
                out.extend_from_slice(&[0xFF, 0xD0 + (k % 8) as u8]);
            }
        }
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of noise and gradients, so every MCU differs.
    fn frame(w: u32, h: u32, seed: u32) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        let mut out = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                out.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, (s % 64) as u8 + ((x + y) % 192) as u8]);
            }
        }
        out
    }

    #[test]
    fn a_spliced_frame_is_the_whole_frame_encoded() {
        let (w, h) = (750u32, 1334u32);
        let background = frame(w, h, 1);
        let base = Frame::new(&background, w, h, 85).expect("frame");
        // Paint new pixels in three regions (one at the right edge, one at
        // the bottom-right corner), as a render does.
        let mut full = background.clone();
        let other = frame(w, h, 2);
        let regions = [(2usize, 3usize, 5usize, 4usize), (40, 10, 7, 2), (44, 80, 3, 4)];
        let (cols, rows) = (w.div_ceil(16) as usize, h.div_ceil(16) as usize);
        for &(col, row, n, m) in &regions {
            let x0 = col * 16;
            let y0 = row * 16;
            let x1 = ((col + n) * 16).min(w as usize);
            let y1 = ((row + m) * 16).min(h as usize);
            for y in y0..y1 {
                let a = (y * w as usize + x0) * 3;
                let b = (y * w as usize + x1) * 3;
                full[a..b].copy_from_slice(&other[a..b]);
            }
        }
        // The changed MCUs, in any order (here from the last): each is
        // encoded in the strip and lands where it belongs.
        let mut blocks = Vec::new();
        let mut at = Vec::new();
        for &(col, row, n, m) in regions.iter().rev() {
            for r in (row..(row + m).min(rows)).rev() {
                for c in col..(col + n).min(cols) {
                    let mut b = vec![0u8; BLOCK];
                    block(&full, w as usize, h as usize, c * 16, r * 16, &mut b);
                    blocks.extend_from_slice(&b);
                    at.push(r * cols + c);
                }
            }
        }
        let strip = Strip::encode(&blocks, 85).expect("strip");
        let spliced = base.splice(at.iter().enumerate().map(|(k, &i)| (i, strip.mcu(k))));
        let whole = encode(&full, w, h, 85).expect("whole");
        assert!(
            spliced == whole,
            "the spliced JPEG differs from the whole frame's ({} vs {} bytes)",
            spliced.len(),
            whole.len()
        );
        let decoded = image::load_from_memory(&spliced).expect("decodes").to_rgb8();
        assert_eq!(decoded.dimensions(), (w, h));
    }

    #[test]
    fn a_jpeg_is_cut_at_its_markers() {
        let rgb = frame(40, 20, 3);
        let jpeg = encode(&rgb, 40, 20, 80).expect("jpeg");
        let c = cut(&jpeg).expect("cut");
        assert_eq!(c.mcus.len(), 3 * 2);
        assert!(c.mcus.iter().all(|r| !r.is_empty()));
        assert!(cut(b"\xFF\xD8\xFF").is_err());
        assert!(cut(b"not a jpeg").is_err());
    }
}
