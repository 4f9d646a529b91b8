//! Avatars for the `avatar` URLs the simulator hands out: WeChat's CDN
//! answers with a picture, so the simulator's does too. Each is drawn from
//! the id in the URL (a silhouette on a background, both colours from its
//! hash), so a customer's avatar is the same on every fetch.

use sha2::{Digest, Sha256};

/// WeChat's small avatar size.
pub const SIDE: u32 = 132;

/// The avatar behind `/sim/avatar/{id}`, as an RGB PNG.
pub fn png(id: &str) -> Result<Vec<u8>, String> {
    let h = Sha256::digest(id.as_bytes());
    // A darker background and a lighter figure, so the two always part.
    let back = [h[0] / 2, h[1] / 2, h[2] / 2];
    let front = [128 + h[3] / 2, 128 + h[4] / 2, 128 + h[5] / 2];
    let side = SIDE as i64;
    let mut pixels = Vec::with_capacity((SIDE * SIDE * 3) as usize);
    for y in 0..side {
        for x in 0..side {
            let (dx, dy) = (x - side / 2, y - side * 2 / 5);
            let head = dx * dx + dy * dy <= (side / 5) * (side / 5);
            let (sx, sy) = (x - side / 2, y - side);
            let shoulders = sx * sx + 2 * sy * sy <= (side * 2 / 5) * (side * 2 / 5);
            pixels.extend_from_slice(if head || shoulders { &front } else { &back });
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, SIDE, SIDE);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&pixels).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_id_draws_the_same_picture_and_ids_differ() {
        let a = super::png("abc").unwrap();
        assert_eq!(a, super::png("abc").unwrap());
        assert_ne!(a, super::png("abd").unwrap());
        assert_eq!(&a[1..4], b"PNG");
    }
}
