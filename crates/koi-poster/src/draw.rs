//! A rectangle of the canvas being drawn (RGB, 8 bits), addressed in canvas
//! coordinates: everything drawn is clipped to it, so a layer that spans
//! two regions is drawn into each.

use crate::template::Rect;

pub(crate) struct Region {
    pub rect: Rect,
    pub rgb: Vec<u8>,
}

/// `dst + (src - dst) · a / 255`, rounded.
#[inline]
fn mix(dst: u8, src: u8, a: u32) -> u8 {
    let d = dst as u32;
    let s = src as u32;
    let v = d * (255 - a) + s * a + 128;
    ((v + (v >> 8)) >> 8) as u8
}

impl Region {
    /// The part of `r` inside this region, as (x0, y0, x1, y1) in canvas pixels.
    fn clip(&self, r: Rect) -> Option<(i32, i32, i32, i32)> {
        let x0 = r.x.max(self.rect.x);
        let y0 = r.y.max(self.rect.y);
        let x1 = r.right().min(self.rect.right());
        let y1 = r.bottom().min(self.rect.bottom());
        (x0 < x1 && y0 < y1).then_some((x0, y0, x1, y1))
    }

    #[inline]
    fn offset(&self, x: i32, y: i32) -> usize {
        (((y - self.rect.y) * self.rect.w + (x - self.rect.x)) * 3) as usize
    }

    pub fn fill(&mut self, r: Rect, rgb: [u8; 3]) {
        let Some((x0, y0, x1, y1)) = self.clip(r) else { return };
        for y in y0..y1 {
            let start = self.offset(x0, y);
            for px in self.rgb[start..start + ((x1 - x0) * 3) as usize].chunks_exact_mut(3) {
                px.copy_from_slice(&rgb);
            }
        }
    }

    /// Paints `rgb` through a coverage mask (`w`×`h`, one byte a pixel)
    /// whose top-left is at (x, y), never outside `clip`.
    #[allow(clippy::too_many_arguments)]
    pub fn mask(&mut self, x: i32, y: i32, w: i32, h: i32, mask: &[u8], rgb: [u8; 3], clip: Rect) {
        let Some((x0, y0, x1, y1)) = self.clip(Rect { x, y, w, h }) else { return };
        let Some((x0, y0, x1, y1)) = intersect((x0, y0, x1, y1), clip) else { return };
        for yy in y0..y1 {
            let row = &mask[((yy - y) * w) as usize..];
            let mut o = self.offset(x0, yy);
            for xx in x0..x1 {
                let a = row[(xx - x) as usize] as u32;
                if a == 255 {
                    self.rgb[o..o + 3].copy_from_slice(&rgb);
                } else if a != 0 {
                    for (d, s) in self.rgb[o..o + 3].iter_mut().zip(rgb) {
                        *d = mix(*d, s, a);
                    }
                }
                o += 3;
            }
        }
    }

    /// Paints an RGBA image (`w`×`h`) with its top-left at (x, y), its alpha
    /// further multiplied by `mask` when given (same size), within `clip`.
    #[allow(clippy::too_many_arguments)]
    pub fn rgba(&mut self, x: i32, y: i32, w: i32, h: i32, rgba: &[u8], mask: Option<&[u8]>, clip: Rect) {
        let Some((x0, y0, x1, y1)) = self.clip(Rect { x, y, w, h }) else { return };
        let Some((x0, y0, x1, y1)) = intersect((x0, y0, x1, y1), clip) else { return };
        for yy in y0..y1 {
            let mut o = self.offset(x0, yy);
            for xx in x0..x1 {
                let i = ((yy - y) * w + (xx - x)) as usize;
                let mut a = rgba[i * 4 + 3] as u32;
                if let Some(m) = mask {
                    a = (a * m[i] as u32 + 127) / 255;
                }
                if a != 0 {
                    for c in 0..3 {
                        self.rgb[o + c] = mix(self.rgb[o + c], rgba[i * 4 + c], a);
                    }
                }
                o += 3;
            }
        }
    }
}

fn intersect((x0, y0, x1, y1): (i32, i32, i32, i32), c: Rect) -> Option<(i32, i32, i32, i32)> {
    let (x0, y0, x1, y1) = (x0.max(c.x), y0.max(c.y), x1.min(c.right()), y1.min(c.bottom()));
    (x0 < x1 && y0 < y1).then_some((x0, y0, x1, y1))
}

/// Coverage of a disc `size` pixels across (antialiased edge), one byte a pixel.
pub(crate) fn disc(size: i32) -> Vec<u8> {
    let r = size as f32 / 2.0;
    let mut out = vec![0u8; (size * size) as usize];
    for y in 0..size {
        for x in 0..size {
            let dx = x as f32 + 0.5 - r;
            let dy = y as f32 + 0.5 - r;
            let d = (dx * dx + dy * dy).sqrt();
            out[(y * size + x) as usize] = ((r - d + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawing_is_clipped_to_the_region_and_the_clip() {
        let rect = Rect { x: 10, y: 10, w: 4, h: 4 };
        let mut r = Region { rect, rgb: vec![0; 4 * 4 * 3] };
        r.fill(Rect { x: 0, y: 0, w: 12, h: 12 }, [255, 0, 0]);
        // Only (10..12, 10..12) is inside.
        assert_eq!(&r.rgb[0..3], &[255, 0, 0]);
        assert_eq!(&r.rgb[6..9], &[0, 0, 0]);
        r.mask(12, 12, 2, 2, &[255, 128, 0, 255], [0, 0, 255], Rect { x: 0, y: 0, w: 13, h: 13 });
        let at = |x: i32, y: i32| r.rgb[r.offset(x, y)..r.offset(x, y) + 3].to_vec();
        assert_eq!(at(12, 12), vec![0, 0, 255]);
        assert_eq!(at(13, 12), vec![0, 0, 0], "outside the clip");
        assert_eq!(mix(0, 255, 128), 128);
        assert_eq!(mix(200, 200, 77), 200);
    }

    #[test]
    fn a_disc_is_full_inside_and_empty_in_the_corners() {
        let d = disc(40);
        assert_eq!(d[20 * 40 + 20], 255);
        assert_eq!(d[0], 0);
        assert!(d[20 * 40] > 0 && d[20 * 40] < 255, "the edge is antialiased: {}", d[20 * 40]);
    }
}
