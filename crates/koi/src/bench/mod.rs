//! `koi bench …`: koi's figures beside the comparator each issue names, in
//! one run, as a ratio. Benchmarks are measurements, never pass/fail tests.

mod callbacks;
mod crypto;
mod segments;
mod welcome;

pub use callbacks::callbacks;
pub use crypto::crypto;
pub use segments::segments;
pub use welcome::welcome;

use koi_wecom::CallbackCrypto;
use std::time::{Duration, Instant};

pub(crate) const TOKEN: &str = "QDG6eK";
pub(crate) const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
pub(crate) const CORP: &str = "wwkoibench0000001";

/// One signed event POST, as WeCom sends it.
pub(crate) struct Delivery {
    pub signature: String,
    pub timestamp: String,
    pub nonce: String,
    pub body: String,
    pub encrypt: String,
}

/// Distinct, realistic add-customer events: the most frequent callback on
/// the hot path. `salt` keeps runs of one process distinct.
pub(crate) fn deliveries(crypto: &CallbackCrypto, n: usize) -> Vec<Delivery> {
    let salt =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() % 1_000_000);
    (0..n)
        .map(|i| {
            let xml = format!(
                "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                 <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
                 <UserID><![CDATA[guide{:03}]]></UserID><ExternalUserID><![CDATA[wmA1b2C3d4E5f6{salt:06}K{i:08}]]></ExternalUserID>\
                 <State><![CDATA[c12s3g45]]></State><WelcomeCode><![CDATA[CALLBACK_WELCOME_CODE_{i:08}]]></WelcomeCode></xml>",
                1_700_000_000 + i,
                i % 100,
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

pub(crate) fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Best of `rounds` runs of `f`, to keep a noisy neighbour from deciding.
pub(crate) fn best(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one round")
}
