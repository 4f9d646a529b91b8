//! `koi bench …`: koi's figures beside the comparator each issue names, in
//! one run, as a ratio. Benchmarks are measurements, never pass/fail tests.

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use anyhow::Result;
use base64::Engine as _;
use koi_wecom::{CallbackCrypto, CallbackEvent};
use sha1::Digest as _;
use std::time::{Duration, Instant};

const TOKEN: &str = "QDG6eK";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP: &str = "wwkoibench0000001";

/// One signed event POST, as WeCom sends it.
struct Delivery {
    signature: String,
    timestamp: String,
    nonce: String,
    body: String,
    encrypt: String,
}

/// A realistic add-customer event: the most frequent callback on the hot path.
fn deliveries(crypto: &CallbackCrypto, n: usize) -> Vec<Delivery> {
    (0..n)
        .map(|i| {
            let xml = format!(
                "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                 <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
                 <UserID><![CDATA[guide{:03}]]></UserID><ExternalUserID><![CDATA[wmA1b2C3d4E5f6G7h8I9j0K{:08}]]></ExternalUserID>\
                 <State><![CDATA[c12s3g45]]></State><WelcomeCode><![CDATA[CALLBACK_WELCOME_CODE_{:08}]]></WelcomeCode></xml>",
                1_700_000_000 + i,
                i % 100,
                i,
                i
            );
            let encrypt = crypto.encrypt(&xml);
            let (timestamp, nonce) = ((1_700_000_000 + i).to_string(), format!("{}", 100_000 + i));
            let signature = crypto.signature(&timestamp, &nonce, &encrypt);
            let body = format!(
                "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
            );
            Delivery { signature, timestamp, nonce, body, encrypt }
        })
        .collect()
}

/// koi's whole receive path minus storage: verify, decrypt, parse, dedup key.
fn koi_path(crypto: &CallbackCrypto, d: &[Delivery]) -> usize {
    let mut ok = 0;
    for x in d {
        let plain = crypto.decrypt_message(&x.signature, &x.timestamp, &x.nonce, &x.body).expect("valid delivery");
        let event = CallbackEvent::parse(&plain).expect("valid event");
        let key = koi_wecom::dedup_key(plain.as_bytes());
        ok += usize::from(!key.is_empty() && event.envelope().corp_id == CORP);
    }
    ok
}

/// The physical floor: only SHA-1 over the signed fields and AES-256-CBC
/// over the ciphertext bytes, the two primitives no implementation can skip.
fn floor_path(key: &[u8; 32], d: &[(Vec<u8>, [String; 4])]) -> usize {
    let mut sink = 0usize;
    for (cipher, parts) in d {
        let mut sha = sha1::Sha1::new();
        for p in parts {
            sha.update(p.as_bytes());
        }
        sink ^= sha.finalize()[0] as usize;
        let mut buf = cipher.clone();
        let dec = cbc::Decryptor::<aes::Aes256>::new(key.into(), key[..16].into());
        let out = dec.decrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut buf).expect("whole blocks");
        sink ^= out[0] as usize;
    }
    sink
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Best of `rounds` runs of `f`, to keep a noisy neighbour from deciding.
fn best(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one round")
}

pub fn crypto(n: usize, json: bool) -> Result<()> {
    let crypto = CallbackCrypto::new(TOKEN, AES_KEY, CORP)?;
    eprintln!("preparing {n} signed, encrypted add-customer callbacks…");
    let d = deliveries(&crypto, n);
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(format!("{AES_KEY}="))
        .or_else(|_| {
            base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_allow_trailing_bits(true)
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            )
            .decode(format!("{AES_KEY}="))
        })?
        .try_into()
        .map_err(|_| anyhow::anyhow!("key is not 32 bytes"))?;
    let raw: Vec<(Vec<u8>, [String; 4])> = d
        .iter()
        .map(|x| {
            let cipher = base64::engine::general_purpose::STANDARD.decode(&x.encrypt).expect("ciphertext is base64");
            (cipher, [TOKEN.to_string(), x.timestamp.clone(), x.nonce.clone(), x.encrypt.clone()])
        })
        .collect();

    eprintln!("measuring (best of 5 rounds, one core)…");
    let koi_t = best(5, || assert_eq!(koi_path(&crypto, &d), n));
    let floor_t = best(5, || {
        std::hint::black_box(floor_path(&key, &raw));
    });
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    let chunk = n.div_ceil(threads);
    let all_t = best(3, || {
        std::thread::scope(|s| {
            for part in d.chunks(chunk) {
                let c = &crypto;
                s.spawn(move || koi_path(c, part));
            }
        })
    });
    let (koi, floor, all) = (rate(n, koi_t), rate(n, floor_t), rate(n, all_t));
    let body_bytes = d.iter().map(|x| x.body.len()).sum::<usize>() / n;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "benchmark": "crypto",
                "callbacks": n,
                "body_bytes": body_bytes,
                "koi_per_sec_one_core": koi.round(),
                "floor_per_sec_one_core": floor.round(),
                "koi_over_floor": koi / floor,
                "koi_per_sec_all_cores": all.round(),
                "cores": threads,
            })
        );
    } else {
        println!("koi bench crypto — {n} add-customer callbacks, {body_bytes} B each");
        println!("{:<58} {:>14} {:>8}", "", "callbacks/s", "ratio");
        println!("{:<58} {:>14.0} {:>8.2}", "koi: verify + decrypt + parse + dedup key (1 core)", koi, koi / floor);
        println!("{:<58} {:>14.0} {:>8.2}", "floor: SHA-1 + AES-256-CBC of the same bytes (1 core)", floor, 1.0);
        println!("{:<58} {:>14.0} {:>8}", format!("koi on all {threads} cores"), all, "");
    }
    Ok(())
}
