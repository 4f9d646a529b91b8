//! Renders real posters with the machine's fonts and reads them back.

use crate::render::qr_geometry;
use crate::*;
use std::sync::{Arc, OnceLock};

fn fonts() -> Arc<Fonts> {
    static FONTS: OnceLock<Arc<Fonts>> = OnceLock::new();
    FONTS.get_or_init(|| Arc::new(Fonts::system().expect("a CJK font (fonts-noto-cjk) is installed"))).clone()
}

fn white_layout() -> Layout {
    let mut l = Layout::starter();
    l.background_color = "#ffffff".into();
    for layer in &mut l.layers {
        if let Layer::Nickname { color, .. } | Layer::Text { color, .. } = layer {
            *color = "#000000".into();
        }
    }
    l
}

fn fill(nickname: &str) -> PosterFill {
    PosterFill {
        qr_payload: "https://koi.example/c/42?inviter=7".into(),
        nickname: nickname.into(),
        avatar: None,
        text_vars: Default::default(),
    }
}

fn decode(jpeg: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).expect("a JPEG").to_rgb8()
}

fn png(w: u32, h: u32, rgba: [u8; 4]) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba(rgba));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

/// Pixels of `img` in `(x, y, w, h)` darker than `below` on every channel.
fn dark_pixels(img: &image::RgbImage, (x, y, w, h): (u32, u32, u32, u32), below: u8) -> usize {
    (y..y + h)
        .flat_map(|yy| (x..x + w).map(move |xx| (xx, yy)))
        .filter(|&(xx, yy)| img.get_pixel(xx, yy).0.iter().all(|c| *c < below))
        .count()
}

#[test]
fn a_poster_is_a_750_by_1334_jpeg_equal_to_the_whole_frame_encoded() {
    let t = PreparedTemplate::prepare(&Layout::starter(), None, fonts()).expect("prepared");
    let f = fill("小锦鲤🐟 Koi");
    let jpeg = t.render(&f).expect("rendered");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let img = decode(&jpeg);
    assert_eq!(img.dimensions(), (750, 1334));
    // The spliced poster is the JPEG of the whole frame drawn at once...
    let rgb = t.render_rgb(&f).expect("rgb");
    assert!(jpeg == crate::jpeg::encode(&rgb, WIDTH, HEIGHT, JPEG_QUALITY).expect("whole"), "splice differs");
    // ...and decodes to the drawn pixels within JPEG's loss.
    let diff: u64 = img.as_raw().iter().zip(&rgb).map(|(a, b)| (*a as i64 - *b as i64).unsigned_abs()).sum();
    let mean = diff as f64 / rgb.len() as f64;
    assert!(mean < 2.0, "mean difference {mean}");
    // A plain encoder's JPEG of the same pixels decodes alike.
    let mut plain = Vec::new();
    jpeg_encoder::Encoder::new(&mut plain, JPEG_QUALITY)
        .encode(&rgb, 750, 1334, jpeg_encoder::ColorType::Rgb)
        .expect("plain");
    let plain = decode(&plain);
    let diff: u64 = img.as_raw().iter().zip(plain.as_raw()).map(|(a, b)| (*a as i64 - *b as i64).unsigned_abs()).sum();
    assert!((diff as f64 / rgb.len() as f64) < 1.0);
}

#[test]
fn the_qr_modules_are_where_the_layout_puts_them() {
    let layout = white_layout();
    let (x, y, size) = layout
        .layers
        .iter()
        .find_map(|l| if let Layer::Qr { x, y, size } = *l { Some((x, y, size)) } else { None })
        .expect("a QR layer");
    let t = PreparedTemplate::prepare(&layout, None, fonts()).expect("prepared");
    for payload in ["https://koi.example/c/42?inviter=7", "https://work.weixin.qq.com/ca/cawcde1234567890abcdef"] {
        let f = PosterFill { qr_payload: payload.into(), ..fill("x") };
        let img = decode(&t.render(&f).expect("rendered"));
        let (dark, n, m, offset) = qr_geometry(payload, size).expect("geometry");
        assert!(m >= 4, "modules of {m} px are too small to scan");
        let mut wrong = 0;
        for (k, d) in dark.iter().enumerate() {
            let cx = x + offset + (k as i32 % n) * m + m / 2;
            let cy = y + offset + (k as i32 / n) * m + m / 2;
            let luma = img.get_pixel(cx as u32, cy as u32).0[0];
            if (*d && luma > 80) || (!*d && luma < 175) {
                wrong += 1;
            }
        }
        assert_eq!(wrong, 0, "{wrong} of {} modules misplaced for {payload}", dark.len());
        // And a QR reader reads the payload back from the decoded JPEG.
        let mut grey =
            rqrr::PreparedImage::prepare_from_greyscale(750, 1334, |px, py| img.get_pixel(px as u32, py as u32).0[1]);
        let grids = grey.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().expect("decodes").1, payload);
        // The finder pattern's corner is dark, the quiet zone light.
        assert!(img.get_pixel((x + offset + 1) as u32, (y + offset + 1) as u32).0[0] < 80);
        assert!(img.get_pixel((x + offset - m / 2) as u32, (y + offset + 1) as u32).0[0] > 175);
    }
}

#[test]
fn cjk_nicknames_are_drawn_inside_their_box() {
    let layout = white_layout();
    let (x, y, size, max_width) = layout
        .layers
        .iter()
        .find_map(|l| {
            if let Layer::Nickname { x, y, size, max_width, .. } = *l {
                Some((x, y, size, max_width))
            } else {
                None
            }
        })
        .expect("a nickname layer");
    let t = PreparedTemplate::prepare(&layout, None, fonts()).expect("prepared");
    let lh = crate::template::line_height(size);
    let boxed = (x as u32, y as u32, max_width as u32, lh as u32);
    let a = decode(&t.render(&fill("小锦鲤")).expect("rendered"));
    let b = decode(&t.render(&fill("大锦鲤")).expect("rendered"));
    let ink = dark_pixels(&a, boxed, 100);
    assert!(ink > 200, "only {ink} dark pixels in the nickname's box");
    // Different characters, different pixels: real glyphs, not tofu boxes.
    let region = |img: &image::RgbImage| -> Vec<u8> {
        (y..y + lh)
            .flat_map(|yy| (x..x + size * 3).map(move |xx| (xx, yy)))
            .map(|(xx, yy)| img.get_pixel(xx as u32, yy as u32).0[0])
            .collect()
    };
    assert_ne!(region(&a), region(&b));
    // Three CJK characters are about three ems wide; nothing right of them.
    assert_eq!(
        dark_pixels(&a, (x as u32 + size as u32 * 3 + 4, y as u32, (max_width - size * 3 - 4) as u32, lh as u32), 100),
        0
    );
    // Nothing dark just outside the box (above it is white background).
    assert_eq!(dark_pixels(&a, (x as u32, y as u32 - 6, max_width as u32, 6), 100), 0);
    // A nickname too long for the box is cut, and stays inside it.
    let long = decode(&t.render(&fill(&"锦".repeat(40))).expect("rendered"));
    assert_eq!(dark_pixels(&long, ((x + max_width) as u32, y as u32, 40, lh as u32), 100), 0);
    assert!(dark_pixels(&long, (x as u32, y as u32, max_width as u32, lh as u32), 100) > ink * 4);
}

/// Pixels in the box that are clearly coloured (not grey).
fn coloured(img: &image::RgbImage, (x, y, w, h): (u32, u32, u32, u32)) -> usize {
    (y..y + h)
        .flat_map(|yy| (x..x + w).map(move |xx| (xx, yy)))
        .filter(|&(xx, yy)| {
            let p = img.get_pixel(xx, yy).0;
            p.iter().max().expect("3") - p.iter().min().expect("3") > 80
        })
        .count()
}

#[test]
fn emoji_are_drawn_in_colour_or_left_out_cleanly() {
    let layout = white_layout();
    let (x, y, size, max_width) = layout
        .layers
        .iter()
        .find_map(|l| {
            if let Layer::Nickname { x, y, size, max_width, .. } = *l {
                Some((x, y, size, max_width))
            } else {
                None
            }
        })
        .expect("a nickname layer");
    let boxed = (x as u32, y as u32, max_width as u32, crate::template::line_height(size) as u32);
    let f = fill("小锦鲤🐟👍🏻‍");
    assert!(fonts().has_emoji(), "fonts-noto-color-emoji is installed for the tests");
    let t = PreparedTemplate::prepare(&layout, None, fonts()).expect("prepared");
    let img = decode(&t.render(&f).expect("rendered"));
    assert!(coloured(&img, boxed) > 300, "the fish is in colour: {}", coloured(&img, boxed));
    // Without the emoji font the poster still renders, in black and white.
    let plain = Arc::new(fonts().without_emoji());
    let t = PreparedTemplate::prepare(&layout, None, plain).expect("prepared");
    let img = decode(&t.render(&f).expect("rendered"));
    assert_eq!(coloured(&img, boxed), 0);
    assert!(dark_pixels(&img, boxed, 100) > 200);
}

#[test]
fn avatars_are_round_and_missing_ones_get_a_placeholder() {
    let layout = white_layout();
    let (x, y, size) = layout
        .layers
        .iter()
        .find_map(
            |l| if let Layer::Avatar { x, y, size } = *l { Some((x as u32, y as u32, size as u32)) } else { None },
        )
        .expect("an avatar layer");
    let t = PreparedTemplate::prepare(&layout, None, fonts()).expect("prepared");
    let red = PosterFill { avatar: Some(png(64, 48, [220, 20, 20, 255])), ..fill("Ann") };
    let img = decode(&t.render(&red).expect("rendered"));
    let centre = img.get_pixel(x + size / 2, y + size / 2).0;
    assert!(centre[0] > 180 && centre[1] < 70, "{centre:?}");
    let corner = img.get_pixel(x + 3, y + 3).0;
    assert!(corner.iter().all(|c| *c > 235), "the corner stays background: {corner:?}");
    // No avatar, or one that cannot be read: a coloured disc with "A".
    for avatar in [None, Some(b"not an image".to_vec())] {
        let img = decode(&t.render(&PosterFill { avatar, ..fill("ann") }).expect("rendered"));
        assert!(coloured(&img, (x, y, size, size)) > 5000);
        let white = (y + size / 4..y + size * 3 / 4)
            .flat_map(|yy| (x + size / 4..x + size * 3 / 4).map(move |xx| (xx, yy)))
            .filter(|&(xx, yy)| img.get_pixel(xx, yy).0.iter().all(|c| *c > 230))
            .count();
        assert!(white > 100, "the initial is drawn in white: {white}");
        assert!(img.get_pixel(x + 2, y + 2).0.iter().all(|c| *c > 235));
    }
}

#[test]
fn text_takes_variables_and_wraps() {
    let mut layout = white_layout();
    layout.layers.retain(|l| matches!(l, Layer::Qr { .. }));
    layout.layers.push(Layer::Text {
        x: 40,
        y: 400,
        size: 30,
        color: "#000000".into(),
        max_width: 300,
        max_lines: 3,
        align: Align::Left,
        text: "{nickname} 邀请你加入锦鲤俱乐部，领取 {gift}".into(),
    });
    let t = PreparedTemplate::prepare(&layout, None, fonts()).expect("prepared");
    let mut f = fill("小锦鲤");
    f.text_vars.insert("gift".into(), "20 元券".into());
    let img = decode(&t.render(&f).expect("rendered"));
    let lh = crate::template::line_height(30) as u32;
    for line in 0..3 {
        let ink = dark_pixels(&img, (40, 400 + line * lh, 300, lh), 100);
        assert!(ink > 100, "line {line} has {ink} dark pixels");
    }
    assert_eq!(dark_pixels(&img, (340, 400, 100, 3 * lh), 100), 0, "nothing past max_width");
}

#[test]
fn bad_templates_and_uploads_are_refused() {
    let mut outside = Layout::starter();
    outside.layers.push(Layer::Qr { x: 600, y: 1200, size: 200 });
    match PreparedTemplate::prepare(&outside, None, fonts()) {
        Err(PosterError::Invalid(p)) => assert!(p.iter().any(|p| p.code == "outside_canvas"), "{p:?}"),
        other => panic!("{other:?}"),
    }
    let l = Layout::starter();
    let huge = vec![0u8; MAX_BACKGROUND_BYTES + 1];
    assert!(matches!(PreparedTemplate::prepare(&l, Some(&huge), fonts()), Err(PosterError::TooLarge { .. })));
    let wide = png(MAX_BACKGROUND_SIDE + 1, 1, [0, 0, 0, 255]);
    assert!(matches!(PreparedTemplate::prepare(&l, Some(&wide), fonts()), Err(PosterError::TooLarge { .. })));
    assert!(matches!(PreparedTemplate::prepare(&l, Some(b"GIF89a....."), fonts()), Err(PosterError::BadImage { .. })));
    let mut truncated = png(100, 100, [1, 2, 3, 255]);
    truncated.truncate(60);
    assert!(matches!(PreparedTemplate::prepare(&l, Some(&truncated), fonts()), Err(PosterError::BadImage { .. })));
    // A QR payload too long for the QR's size.
    let small = Layout { layers: vec![Layer::Qr { x: 0, y: 0, size: 80 }], ..Layout::starter() };
    let t = PreparedTemplate::prepare(&small, None, fonts()).expect("prepared");
    let f = PosterFill { qr_payload: "x".repeat(600), ..fill("a") };
    assert!(matches!(t.render(&f), Err(PosterError::Qr(_))));
}

#[test]
fn an_uploaded_background_covers_the_canvas() {
    // A wide image, left half blue and right half green: cut around its
    // middle, both halves show; transparency is over the background colour.
    let mut img = image::RgbaImage::from_pixel(400, 300, image::Rgba([0, 0, 255, 255]));
    for y in 0..300 {
        for x in 200..400 {
            img.put_pixel(x, y, image::Rgba([0, 200, 0, 255]));
        }
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png).expect("png");
    let mut l = Layout::starter();
    l.layers.clear();
    let t = PreparedTemplate::prepare(&l, Some(bytes.get_ref()), fonts()).expect("prepared");
    let out = decode(&t.render(&fill("a")).expect("rendered"));
    assert_eq!(out.dimensions(), (750, 1334));
    assert!(out.get_pixel(100, 600).0[2] > 200 && out.get_pixel(650, 600).0[1] > 150);
    let clear = png(10, 10, [0, 0, 0, 0]);
    let t = PreparedTemplate::prepare(&l, Some(&clear), fonts()).expect("prepared");
    let out = decode(&t.render(&fill("a")).expect("rendered"));
    let p = out.get_pixel(375, 667).0;
    assert!(p[0] > 230 && (100..150).contains(&p[1]), "the starter's orange shows through: {p:?}");
}

#[test]
fn a_qr_is_read_back_out_of_a_poster_and_a_picture_without_one_is_refused() {
    let t = PreparedTemplate::prepare(&white_layout(), None, fonts()).expect("prepared");
    let jpeg = t.render(&fill("读码")).expect("rendered");
    assert_eq!(read_qr(&jpeg).expect("a QR"), "https://koi.example/c/42?inviter=7");
    let group = PreparedTemplate::prepare(&Layout::group_code(), None, fonts()).expect("the group layout");
    let mut f = fill("门店福利群");
    f.qr_payload = "https://koi.example/h5/group/abc".into();
    f.text_vars.insert("store".into(), "静安店".into());
    assert_eq!(read_qr(&group.render(&f).expect("rendered")).expect("a QR"), "https://koi.example/h5/group/abc");
    assert!(matches!(read_qr(&png(64, 64, [255, 255, 255, 255])), Err(PosterError::BadImage { .. })));
    assert!(matches!(read_qr(b"not an image"), Err(PosterError::BadImage { .. })));
    let huge = vec![0u8; MAX_QR_IMAGE_BYTES + 1];
    assert!(matches!(read_qr(&huge), Err(PosterError::TooLarge { .. })));
}

#[test]
fn an_avatar_shrinks_by_area_and_keeps_its_middle() {
    use crate::render::avatar_pixels;
    // A flat colour stays that colour, exactly.
    let flat = image::RgbaImage::from_pixel(132, 132, image::Rgba([10, 200, 77, 255]));
    assert!(avatar_pixels(&flat, 120).chunks(4).all(|p| p == [10, 200, 77, 255]));
    // A wide image is cut around its middle: a 200×100 picture, black left
    // quarter and white right quarter outside the middle square, grey inside.
    let wide = image::RgbaImage::from_fn(200, 100, |x, _| match x {
        0..50 => image::Rgba([0, 0, 0, 255]),
        150.. => image::Rgba([255, 255, 255, 255]),
        _ => image::Rgba([128, 128, 128, 255]),
    });
    let out = avatar_pixels(&wide, 40);
    assert_eq!(out.len(), 40 * 40 * 4);
    assert!(out.chunks(4).all(|p| p == [128, 128, 128, 255]), "only the middle square is kept");
    // Halves stay halves; the seam is averaged.
    let halves =
        image::RgbaImage::from_fn(132, 132, |x, _| if x < 66 { image::Rgba([0; 4]) } else { image::Rgba([255; 4]) });
    let out = avatar_pixels(&halves, 120);
    let at = |x: usize, y: usize| out[(y * 120 + x) * 4];
    assert_eq!((at(0, 5), at(59, 5), at(60, 5), at(119, 5)), (0, 0, 255, 255));
    // Enlarging goes through the filter and still covers the square.
    assert_eq!(avatar_pixels(&flat, 300).len(), 300 * 300 * 4);
}

#[test]
fn posters_from_kept_mcus_are_still_the_whole_frame_encoded() {
    let t = PreparedTemplate::prepare(&Layout::starter(), None, fonts()).expect("prepared");
    let avatar = png(132, 132, [40, 90, 200, 255]);
    // The same avatar and the QR's margins recur: from the third poster on
    // their MCUs come from the cache, and every poster is still exactly
    // the JPEG of its whole frame.
    for (i, name) in ["甲", "乙乙", "丙丙丙", "Koi 丁", "甲"].iter().enumerate() {
        let mut f = fill(name);
        f.qr_payload = format!("https://koi.example/c/{i}");
        f.avatar = Some(avatar.clone());
        let jpeg = t.render(&f).expect("rendered");
        let rgb = t.render_rgb(&f).expect("rgb");
        assert!(jpeg == crate::jpeg::encode(&rgb, WIDTH, HEIGHT, JPEG_QUALITY).expect("whole"), "poster {i} differs");
        assert_eq!(read_qr(&jpeg).expect("a QR"), f.qr_payload);
    }
    assert!(t.mcus_kept() > 0, "recurring MCUs were kept");
}

#[test]
fn the_distributor_layout_is_valid_and_its_qr_reads_back() {
    assert!(Layout::distributor().problems().is_empty(), "{:?}", Layout::distributor().problems());
    let t = PreparedTemplate::prepare(&Layout::distributor(), None, fonts()).expect("the distributor layout");
    let mut f = fill("小锦鲤🐟");
    f.qr_payload = "https://koi.example/h5/d/AbCdEfGhIjKlMnOpQrStUv".into();
    f.text_vars.insert("product".into(), "冬季保暖袜 三双装".into());
    f.text_vars.insert("price".into(), "¥19.90".into());
    f.text_vars.insert("campaign".into(), String::new());
    f.avatar = Some(png(64, 64, [30, 120, 200, 255]));
    let jpeg = t.render(&f).expect("rendered");
    assert_eq!(read_qr(&jpeg).expect("a QR"), "https://koi.example/h5/d/AbCdEfGhIjKlMnOpQrStUv");
}
