//! `koi bench poster`: personal posters (750×1334 JPEG: background, QR,
//! round avatar, CJK + emoji nickname, a line of text) rendered on one core
//! by koi, beside ImageMagick's `convert` and Python Pillow rendering the
//! same template from the same files, in the same run.
//!
//! koi renders from its prepared template (background decoded and
//! pre-encoded once), as a campaign does; Pillow likewise opens the
//! background and the font once; `convert` is one process a poster, as the
//! CLI is used. The comparators get each poster's QR as a ready PNG (koi
//! makes its own QR inside the render), and ImageMagick and Pillow draw no
//! colour emoji: both are spared work koi does.

use anyhow::{anyhow, bail, Context, Result};
use koi_poster::{Fonts, Layer, Layout, PosterFill, PreparedTemplate};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "Koi", "小"];
const GIVEN: [&str; 8] = ["婷婷", "静", "敏敏", "丽", "锦鲤", "雨桐", "fan", "佳怡"];
const EMOJI: [&str; 6] = ["🐟", "🌸", "", "✨", "🎁", "😀"];

/// The template every renderer draws.
fn layout() -> Layout {
    let mut l = Layout::starter();
    for layer in &mut l.layers {
        if let Layer::Text { text, .. } = layer {
            *text = "{nickname} 邀你一起逛周年庆，扫码领券".into();
        }
    }
    l
}

/// Every poster has its own nickname, QR and avatar (132×132 PNG, as
/// WeChat's), so nothing a renderer keeps between posters is the fill's.
fn fills(n: usize) -> Vec<PosterFill> {
    (0..n)
        .map(|i| PosterFill {
            qr_payload: format!("https://work.weixin.qq.com/ca/cawcde{:016x}", (i as u64 + 1) * 0x9E37_79B9),
            nickname: format!("{}{}{}{}", SURNAMES[i % 8], GIVEN[(i / 8) % 8], i, EMOJI[i % 6]),
            avatar: Some(avatar(i)),
            text_vars: Default::default(),
        })
        .collect()
}

fn avatar(i: usize) -> Vec<u8> {
    koi_poster::gradient_png(132, 132, [(i * 7) as u8, 0x90, (i * 13) as u8], [0x10, (i * 3) as u8, 0x70])
}

struct Row {
    name: &'static str,
    posters: usize,
    ms: f64,
    /// CPU time a poster (user + system), when known: on a loaded machine
    /// the fair figure.
    cpu_ms: Option<f64>,
}

/// CPU time (user + system) in ms from /proc: this thread's, or that of
/// this process's waited-for children.
fn cpu_ms(children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(if children { "/proc/self/stat" } else { "/proc/thread-self/stat" }).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<f64> = after.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    // utime, stime, cutime, cstime are fields 14–17, in clock ticks of 10 ms.
    let (a, b) = if children { (13, 14) } else { (11, 12) };
    Some((f.get(a)? + f.get(b)?) * 10.0)
}

/// Where a layer is, for the comparators' command lines.
fn place(l: &Layout, kind: &str) -> (i32, i32, i32) {
    l.layers
        .iter()
        .find_map(|layer| match *layer {
            Layer::Qr { x, y, size } if kind == "qr" => Some((x, y, size)),
            Layer::Avatar { x, y, size } if kind == "avatar" => Some((x, y, size)),
            Layer::Nickname { x, y, size, .. } if kind == "nickname" => Some((x, y, size)),
            Layer::Text { x, y, size, .. } if kind == "text" => Some((x, y, size)),
            _ => None,
        })
        .expect("the bench's layout has every layer")
}

fn text_of(l: &Layout, nickname: &str) -> String {
    l.layers
        .iter()
        .find_map(
            |layer| {
                if let Layer::Text { text, .. } = layer {
                    Some(text.replace("{nickname}", nickname))
                } else {
                    None
                }
            },
        )
        .unwrap_or_default()
}

fn imagemagick(dir: &Path, l: &Layout, fills: &[PosterFill], font: &Path) -> Result<(f64, Option<f64>)> {
    let ((qx, qy, qs), (ax, ay, asz), (nx, ny, ns), (tx, ty, ts)) =
        (place(l, "qr"), place(l, "avatar"), place(l, "nickname"), place(l, "text"));
    let (started, cpu) = (Instant::now(), cpu_ms(true));
    for (i, f) in fills.iter().enumerate() {
        let qr = dir.join(format!("qr{i}.png"));
        let r = asz / 2;
        let status = Command::new("convert")
            .env("MAGICK_THREAD_LIMIT", "1")
            .env("OMP_NUM_THREADS", "1")
            .arg(dir.join("background.png"))
            .args(["(", qr.to_str().expect("utf-8"), "-filter", "point", "-resize", &format!("{qs}x{qs}"), ")"])
            .args(["-geometry", &format!("+{qx}+{qy}"), "-composite"])
            .args(["(", dir.join("avatar.png").to_str().expect("utf-8"), "-resize", &format!("{asz}x{asz}!")])
            .args(["(", "-size", &format!("{asz}x{asz}"), "xc:black", "-fill", "white"])
            .args(["-draw", &format!("circle {r},{r} {r},0"), ")"])
            .args(["-alpha", "off", "-compose", "CopyOpacity", "-composite", ")"])
            .args(["-compose", "Over", "-geometry", &format!("+{ax}+{ay}"), "-composite"])
            .args(["-font", font.to_str().expect("utf-8"), "-fill", "white"])
            .args(["-pointsize", &ns.to_string(), "-annotate", &format!("+{nx}+{}", ny + ns), &f.nickname])
            .args(["-pointsize", &ts.to_string(), "-annotate", &format!("+{tx}+{}", ty + ts), &text_of(l, &f.nickname)])
            .args(["-quality", "85"])
            .arg(dir.join(format!("im{i}.jpg")))
            .status()
            .context("run convert (apt-get install imagemagick)")?;
        if !status.success() {
            bail!("convert failed on poster {i}");
        }
    }
    let n = fills.len() as f64;
    let cpu = cpu_ms(true).zip(cpu).map(|(b, a)| (b - a) / n);
    Ok((started.elapsed().as_secs_f64() * 1000.0 / n, cpu))
}

/// The Pillow comparator: the background and fonts opened once, then per
/// poster a copy, the QR pasted, the avatar resized and masked round, the
/// two texts drawn, a JPEG at quality 85 in memory. Prints ms a poster.
const PILLOW: &str = r#"
import io, json, sys, time
from PIL import Image, ImageDraw, ImageFont
d = json.load(open(sys.argv[1]))
bg = Image.open(d["background"]).convert("RGB"); bg.load()
fn = ImageFont.truetype(d["font"], d["nickname"][2], index=d["font_index"])
ft = ImageFont.truetype(d["font"], d["text"][2], index=d["font_index"])
qx, qy, qs = d["qr"]; ax, ay, asz = d["avatar"]
t0 = time.perf_counter(); c0 = time.process_time()
for i, p in enumerate(d["posters"]):
    im = bg.copy()
    qr = Image.open(p["qr"]).convert("RGB").resize((qs, qs), Image.NEAREST)
    im.paste(qr, (qx, qy))
    av = Image.open(d["avatar_file"]).convert("RGB").resize((asz, asz), Image.BILINEAR)
    mask = Image.new("L", (asz, asz), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, asz - 1, asz - 1), fill=255)
    im.paste(av, (ax, ay), mask)
    dr = ImageDraw.Draw(im)
    dr.text((d["nickname"][0], d["nickname"][1]), p["nickname"], font=fn, fill=(255, 255, 255))
    dr.text((d["text"][0], d["text"][1]), p["text"], font=ft, fill=(255, 255, 255))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
print((time.perf_counter() - t0) * 1000 / len(d["posters"]), (time.process_time() - c0) * 1000 / len(d["posters"]))
"#;

fn pillow(dir: &Path, l: &Layout, fills: &[PosterFill], fonts: &Fonts) -> Result<(f64, Option<f64>)> {
    let posters: Vec<_> = fills
        .iter()
        .enumerate()
        .map(|(i, f)| {
            serde_json::json!({"qr": dir.join(format!("qr{i}.png")), "nickname": f.nickname, "text": text_of(l, &f.nickname)})
        })
        .collect();
    let job = serde_json::json!({
        "background": dir.join("background.png"), "avatar_file": dir.join("avatar.png"),
        "font": fonts.cjk_path, "font_index": fonts.cjk_index,
        "qr": place(l, "qr"), "avatar": place(l, "avatar"), "nickname": place(l, "nickname"), "text": place(l, "text"),
        "posters": posters,
    });
    let job_file = dir.join("pillow.json");
    std::fs::write(&job_file, serde_json::to_vec(&job)?)?;
    // Debian's python3 (python3-pil), not one a version manager put first on the PATH.
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let out = Command::new(python)
        .env("OMP_NUM_THREADS", "1")
        .args(["-c", PILLOW])
        .arg(&job_file)
        .output()
        .context("run python3 (apt-get install python3-pil)")?;
    if !out.status.success() {
        bail!("Pillow failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.split_whitespace().map(str::parse::<f64>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(wall)), Some(Ok(cpu))) => Ok((wall, Some(cpu))),
        _ => Err(anyhow!("Pillow printed {text:?}")),
    }
}

pub(crate) fn poster(n: usize, m: usize, json: bool) -> Result<()> {
    let fonts = Arc::new(Fonts::system()?);
    let l = layout();
    let background = koi_poster::gradient_png(750, 1334, [0xff, 0x8a, 0x65], [0xc6, 0x28, 0x28]);
    let started = Instant::now();
    let prepared = PreparedTemplate::prepare(&l, Some(&background), fonts.clone())?;
    let prepare_ms = started.elapsed().as_secs_f64() * 1000.0;
    let all = fills(n + 50);
    let (warm, all) = all.split_at(50);

    // koi, one thread: a first pass warms the glyph cache as a running
    // campaign's would be, then the measured pass over distinct posters.
    for f in warm {
        prepared.render(f)?;
    }
    let mut bytes = 0usize;
    let (started, cpu) = (Instant::now(), cpu_ms(false));
    for f in all {
        bytes += prepared.render(f)?.len();
    }
    let koi_ms = started.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let koi_cpu = cpu_ms(false).zip(cpu).map(|(b, a)| (b - a) / n as f64);
    let whole_n = m.max(10);
    let started = Instant::now();
    for f in all.iter().take(whole_n) {
        prepared.render_whole_frame(f)?;
    }
    let whole_ms = started.elapsed().as_secs_f64() * 1000.0 / whole_n as f64;

    let dir = std::env::temp_dir().join(format!("koi-bench-poster-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("background.png"), &background)?;
    std::fs::write(dir.join("avatar.png"), avatar(0))?;
    let sample = &all[..m.min(all.len())];
    for (i, f) in sample.iter().enumerate() {
        let png = koi_web::qr::png(&f.qr_payload, 4).map_err(|e| anyhow!(e))?;
        std::fs::write(dir.join(format!("qr{i}.png")), png)?;
    }
    std::fs::write(dir.join("koi0.jpg"), prepared.render(&all[0])?)?;
    let mut rows = vec![
        Row { name: "koi", posters: n, ms: koi_ms, cpu_ms: koi_cpu },
        Row { name: "koi, whole frame encoded", posters: whole_n, ms: whole_ms, cpu_ms: None },
    ];
    let mut missing = Vec::new();
    match imagemagick(&dir, &l, sample, &fonts.cjk_path) {
        Ok((ms, cpu_ms)) => rows.push(Row { name: "ImageMagick convert", posters: sample.len(), ms, cpu_ms }),
        Err(e) => missing.push(format!("ImageMagick: {e:#}")),
    }
    match pillow(&dir, &l, sample, &fonts) {
        Ok((ms, cpu_ms)) => rows.push(Row { name: "Python Pillow", posters: sample.len(), ms, cpu_ms }),
        Err(e) => missing.push(format!("Pillow: {e:#}")),
    }

    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"renderer": r.name, "posters": r.posters, "ms_per_poster": r.ms,
                "posters_per_s": 1000.0 / r.ms, "koi_speedup": r.ms / koi_ms, "cpu_ms_per_poster": r.cpu_ms,
                "koi_cpu_speedup": r.cpu_ms.zip(koi_cpu).map(|(c, k)| c / k)})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"rows": out, "prepare_ms": prepare_ms, "mean_bytes": bytes / n, "missing": missing,
                "cjk_font": fonts.cjk_path, "emoji_font": fonts.emoji_path, "files": dir})
        );
        return Ok(());
    }
    println!("poster 750×1334 JPEG (q85), one core; CJK font {}", fonts.cjk_path.display());
    println!(
        "template prepared once in {prepare_ms:.1} ms; mean poster {} KB; colour emoji: {}",
        bytes / n / 1024,
        fonts.emoji_path.as_ref().map_or("none".into(), |p| p.display().to_string())
    );
    println!(
        "{:<26} {:>8} {:>16} {:>12} {:>10} {:>12} {:>10}",
        "renderer", "posters", "ms/poster/core", "posters/s", "koi ×", "CPU ms", "koi × CPU"
    );
    for r in &rows {
        let cpu = r.cpu_ms.map_or("—".to_string(), |c| format!("{c:.3}"));
        let ratio = r.cpu_ms.zip(koi_cpu).map_or("—".to_string(), |(c, k)| format!("{:.1}×", c / k));
        println!(
            "{:<26} {:>8} {:>16.3} {:>12.1} {:>9.1}× {:>12} {:>10}",
            r.name,
            r.posters,
            r.ms,
            1000.0 / r.ms,
            r.ms / koi_ms,
            cpu,
            ratio
        );
    }
    for m in &missing {
        println!("not measured: {m}");
    }
    println!("files (the comparators' posters, koi0.jpg): {}", dir.display());
    Ok(())
}
