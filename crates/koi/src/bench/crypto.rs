//! `koi bench crypto`: callbacks verified, decrypted and parsed per second
//! per core, beside the floor of the primitives on the same machine.

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use anyhow::Result;
use base64::Engine as _;
use koi_wecom::{CallbackCrypto, CallbackEvent};
use sha1::Digest as _;

use super::{deliveries, Delivery, AES_KEY, CORP, TOKEN};

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

use super::{best, rate};

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
