//! QR images for the `qr_code` URLs the simulator hands out: WeCom's URL
//! answers with a picture, so the simulator's does too.

use qrcode::{Color, EcLevel, QrCode};

/// Pixels a module, and modules of white border around the code.
const SCALE: usize = 6;
const QUIET: usize = 4;

/// A grayscale PNG of a QR that encodes `data`.
pub fn png(data: &str) -> Result<Vec<u8>, String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| e.to_string())?;
    let width = code.width();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in code.to_colors().into_iter().enumerate() {
        if c != Color::Dark {
            continue;
        }
        let (x0, y0) = ((i % width + QUIET) * SCALE, (i / width + QUIET) * SCALE);
        for y in y0..y0 + SCALE {
            pixels[y * side + x0..y * side + x0 + SCALE].fill(0);
        }
    }
    let side = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side, side);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&pixels).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}
