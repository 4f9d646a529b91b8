//! Reading a QR code out of an image: WeCom gives a contact way's or a
//! group join way's QR only as a picture (`qr_code`, a URL), so a poster
//! reads its payload once and draws it again at the layout's size, crisp
//! instead of a scaled photo of a QR.

use crate::render::decode;
use crate::{PosterError, Result};

/// Largest QR image read, in bytes (WeCom's are 5–30 KB).
pub const MAX_QR_IMAGE_BYTES: usize = 1024 * 1024;
/// Largest QR image read, in pixels a side (WeCom's are 430).
const MAX_QR_IMAGE_SIDE: u32 = 2048;

/// The payload of the first QR code in a PNG or JPEG.
pub fn read_qr(image: &[u8]) -> Result<String> {
    let img = decode("qr_image", image, MAX_QR_IMAGE_BYTES, MAX_QR_IMAGE_SIDE)?;
    let (w, h) = img.dimensions();
    // Transparent pixels read as white, as they show on a page.
    let grey = |x: usize, y: usize| {
        let p = img.get_pixel(x as u32, y as u32).0;
        let luma = (p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000;
        let a = p[3] as u32;
        ((luma * a + 255 * (255 - a)) / 255) as u8
    };
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, grey);
    let bad = |detail: String| PosterError::BadImage { what: "qr_image", detail };
    let grids = prepared.detect_grids();
    let grid = grids.first().ok_or_else(|| bad("no QR code found in the image".into()))?;
    let (_, payload) = grid.decode().map_err(|e| bad(format!("the QR code does not decode: {e}")))?;
    Ok(payload)
}
