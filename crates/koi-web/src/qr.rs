//! QR codes of channel codes: the contact way's URL drawn as SVG (for the
//! console and print) and PNG (for chat and design tools). koi draws them
//! itself so the QR in the console is exactly the one that gets downloaded.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of white border WeChat's scanner expects around a code.
const QUIET: usize = 4;

/// The dark modules of a QR for `data`, row by row, and the side length.
fn modules(data: &str) -> Result<(Vec<bool>, usize), String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| e.to_string())?;
    let width = code.width();
    Ok((code.to_colors().into_iter().map(|c| c == Color::Dark).collect(), width))
}

/// An SVG of the QR: one path, one unit per module, scaled by the viewer.
pub fn svg(data: &str) -> Result<String, String> {
    let (dark, width) = modules(data)?;
    let side = width + 2 * QUIET;
    let mut path = String::with_capacity(dark.len() * 4);
    for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        let (x, y) = (i % width + QUIET, i / width + QUIET);
        path.push_str(&format!("M{x} {y}h1v1h-1z"));
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path class=\"qr\" fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

/// A grayscale PNG of the QR, `scale` pixels per module.
pub fn png(data: &str, scale: usize) -> Result<Vec<u8>, String> {
    let (dark, width) = modules(data)?;
    let side = (width + 2 * QUIET) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        let (x0, y0) = ((i % width + QUIET) * scale, (i / width + QUIET) * scale);
        for y in y0..y0 + scale {
            pixels[y * side + x0..y * side + x0 + scale].fill(0);
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(&mut out, side32, side32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&pixels).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn svg_and_png_of_one_url() {
        let url = "https://wework.qq.com/wework_admin/qr/abc";
        let svg = super::svg(url).expect("svg");
        assert!(svg.starts_with("<svg") && svg.contains("<path class=\"qr\"") && svg.contains("h1v1h-1z"));
        let png = super::png(url, 4).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
