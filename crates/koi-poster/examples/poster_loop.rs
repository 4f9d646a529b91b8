//! Renders the benchmark's template in a loop on one thread, timing each
//! step of a render: for profiling the renderer without the whole `koi`
//! binary (`cargo run --release -p koi-poster --example poster_loop -- 2000`;
//! `koi bench poster` is the figure to quote).

use koi_poster::{Fonts, Layer, Layout, PosterFill, PreparedTemplate};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let fonts = Arc::new(Fonts::system().expect("a CJK font"));
    let mut layout = Layout::starter();
    for layer in &mut layout.layers {
        if let Layer::Text { text, .. } = layer {
            *text = "{nickname} 邀你一起逛周年庆，扫码领券".into();
        }
    }
    let background = koi_poster::gradient_png(750, 1334, [0xff, 0x8a, 0x65], [0xc6, 0x28, 0x28]);
    // A different avatar on every poster, as participants have.
    let avatars: Vec<Vec<u8>> = (0..n)
        .map(|i| koi_poster::gradient_png(132, 132, [(i * 7) as u8, 0x90, (i * 13) as u8], [0x10, (i * 3) as u8, 0x70]))
        .collect();
    let t = PreparedTemplate::prepare(&layout, Some(&background), fonts).expect("prepared");
    let names = ["王婷婷", "李静🐟", "Koi fan", "小锦鲤✨", "陈雨桐🎁", "杨佳怡😀"];
    let fills: Vec<PosterFill> = (0..n)
        .map(|i| PosterFill {
            qr_payload: format!("https://work.weixin.qq.com/ca/cawcde{:016x}", (i as u64 + 1) * 0x9E37_79B9),
            nickname: format!("{}{i}", names[i % names.len()]),
            avatar: Some(avatars[i].clone()),
            text_vars: Default::default(),
        })
        .collect();
    for f in fills.iter().take(50) {
        t.render(f).expect("render");
    }
    let (started, cpu) = (Instant::now(), thread_cpu_ms());
    let mut bytes = 0;
    for f in &fills {
        bytes += t.render(f).expect("render").len();
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let cpu_ms = (thread_cpu_ms() - cpu) / n as f64;
    println!("{n} posters: {ms:.3} ms a poster ({cpu_ms:.3} ms of CPU), {} KB average", bytes / n / 1024);
}

/// This thread's CPU time so far (user and system), from /proc, in ms.
fn thread_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    // utime and stime are fields 14 and 15, in clock ticks of 10 ms.
    f.get(11).zip(f.get(12)).map_or(0.0, |(u, s)| (u + s) * 10.0)
}
