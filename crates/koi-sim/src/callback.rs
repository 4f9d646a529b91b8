//! Callbacks: the events WeCom POSTs to a corp's callback URL when people
//! act (CONTRACT.md §4), formatted as WeCom's XML, sealed with the corp's
//! Token and EncodingAESKey through `koi_wecom::CallbackCrypto`, and
//! delivered the way WeCom does: URL verification before the first event, a
//! 5 s timeout, only HTTP 200 counts, 3 tries in all, plus the faults a test
//! asks for (duplicates, delay, reordering, lost tries).

use std::sync::Arc;
use std::time::Duration;

use koi_wecom::CallbackCrypto;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::state::{Corp, SimState};

/// An event about to be delivered, before formatting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SimEvent {
    /// `add_external_contact`, or `add_half_external_contact` when `half`.
    /// Empty state / welcome code are left out of the XML.
    AddContact {
        userid: String,
        external_userid: String,
        state: String,
        welcome_code: String,
        half: bool,
    },
    EditContact {
        userid: String,
        external_userid: String,
    },
    DelExternalContact {
        userid: String,
        external_userid: String,
        source: Option<String>,
    },
    DelFollowUser {
        userid: String,
        external_userid: String,
    },
    TransferFail {
        userid: String,
        external_userid: String,
        reason: String,
    },
    ChatCreate {
        chat_id: String,
    },
    ChatUpdate {
        chat_id: String,
        detail: String,
        join_scene: Option<u8>,
        quit_scene: Option<u8>,
        mem_change_list: Vec<String>,
        last_mem_ver: String,
        cur_mem_ver: String,
    },
    ChatDismiss {
        chat_id: String,
    },
    /// `change_external_tag`: `change` is create/update/delete/shuffle,
    /// `tag_type` tag or tag_group.
    Tag {
        change: String,
        id: String,
        tag_type: String,
    },
}

fn cdata(name: &str, value: &str) -> String {
    // A CDATA section cannot contain "]]>"; split it the standard way.
    format!("<{name}><![CDATA[{}]]></{name}>", value.replace("]]>", "]]]]><![CDATA[>"))
}

impl SimEvent {
    /// `(Event, ChangeType)`.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            SimEvent::AddContact { half: false, .. } => ("change_external_contact", "add_external_contact"),
            SimEvent::AddContact { half: true, .. } => ("change_external_contact", "add_half_external_contact"),
            SimEvent::EditContact { .. } => ("change_external_contact", "edit_external_contact"),
            SimEvent::DelExternalContact { .. } => ("change_external_contact", "del_external_contact"),
            SimEvent::DelFollowUser { .. } => ("change_external_contact", "del_follow_user"),
            SimEvent::TransferFail { .. } => ("change_external_contact", "transfer_fail"),
            SimEvent::ChatCreate { .. } => ("change_external_chat", "create"),
            SimEvent::ChatUpdate { .. } => ("change_external_chat", "update"),
            SimEvent::ChatDismiss { .. } => ("change_external_chat", "dismiss"),
            SimEvent::Tag { change, .. } => (
                "change_external_tag",
                match change.as_str() {
                    "create" => "create",
                    "delete" => "delete",
                    "shuffle" => "shuffle",
                    _ => "update",
                },
            ),
        }
    }

    /// The decrypted XML, laid out as WeCom's samples are.
    pub fn to_xml(&self, corp_id: &str, create_time: i64) -> String {
        let (event, change_type) = self.kind();
        let mut body = String::new();
        let ids = |userid: &str, ext: &str| format!("{}{}", cdata("UserID", userid), cdata("ExternalUserID", ext));
        match self {
            SimEvent::AddContact { userid, external_userid, state, welcome_code, .. } => {
                body.push_str(&ids(userid, external_userid));
                if !state.is_empty() {
                    body.push_str(&cdata("State", state));
                }
                if !welcome_code.is_empty() {
                    body.push_str(&cdata("WelcomeCode", welcome_code));
                }
            }
            SimEvent::EditContact { userid, external_userid } | SimEvent::DelFollowUser { userid, external_userid } => {
                body.push_str(&ids(userid, external_userid))
            }
            SimEvent::DelExternalContact { userid, external_userid, source } => {
                body.push_str(&ids(userid, external_userid));
                if let Some(source) = source {
                    body.push_str(&cdata("Source", source));
                }
            }
            SimEvent::TransferFail { userid, external_userid, reason } => {
                body.push_str(&cdata("FailReason", reason));
                body.push_str(&ids(userid, external_userid));
            }
            SimEvent::ChatCreate { chat_id } | SimEvent::ChatDismiss { chat_id } => {
                body.push_str(&cdata("ChatId", chat_id));
            }
            SimEvent::ChatUpdate {
                chat_id,
                detail,
                join_scene,
                quit_scene,
                mem_change_list,
                last_mem_ver,
                cur_mem_ver,
            } => {
                body.push_str(&cdata("ChatId", chat_id));
                body.push_str(&cdata("UpdateDetail", detail));
                if let Some(scene) = join_scene {
                    body.push_str(&format!("<JoinScene>{scene}</JoinScene>"));
                }
                if let Some(scene) = quit_scene {
                    body.push_str(&format!("<QuitScene>{scene}</QuitScene>"));
                }
                body.push_str(&format!("<MemChangeCnt>{}</MemChangeCnt><MemChangeList>", mem_change_list.len()));
                for item in mem_change_list {
                    body.push_str(&cdata("Item", item));
                }
                body.push_str("</MemChangeList>");
                body.push_str(&cdata("LastMemVer", last_mem_ver));
                body.push_str(&cdata("CurMemVer", cur_mem_ver));
            }
            SimEvent::Tag { id, tag_type, .. } => {
                body.push_str(&cdata("Id", id));
                body.push_str(&cdata("TagType", tag_type));
            }
        }
        format!(
            "<xml>{}{}<CreateTime>{create_time}</CreateTime>{}{}{}{body}</xml>",
            cdata("ToUserName", corp_id),
            cdata("FromUserName", "sys"),
            cdata("MsgType", "event"),
            cdata("Event", event),
            cdata("ChangeType", change_type),
        )
    }
}

/// What happened to one callback; `GET /sim/callbacks` lists these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackRecord {
    pub seq: u64,
    pub corp_id: String,
    pub event: String,
    pub change_type: String,
    pub plaintext: String,
    pub create_time: i64,
    /// Tries made, lost ones included (at most 3).
    pub tries: u32,
    /// Tries lost to the drop fault.
    pub dropped: u32,
    /// Extra deliveries made by the duplicate fault.
    pub duplicates: u32,
    pub delivered: bool,
    /// `pending`, `delivered`, `failed`, `no_callback_url` or
    /// `url_verification_failed`.
    pub outcome: String,
    /// What each try got back: an HTTP status or an error.
    pub answers: Vec<String>,
}

/// One event queued for a corp's courier.
#[derive(Debug)]
pub struct Outgoing {
    pub seq: u64,
    pub plaintext: String,
    /// Real time before which it must not leave (the delay fault).
    pub not_before: tokio::time::Instant,
}

pub type Queue = mpsc::UnboundedSender<Outgoing>;

/// Delivers a corp's events one after another (in order unless the reorder
/// fault is on), so a retry holds back the events behind it as WeCom's own
/// queue would.
pub async fn courier(state: Arc<SimState>, corp: Arc<Corp>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let crypto = corp.crypto.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(state.seed ^ 0xca11_bac6 ^ corp.index as u64);
    let client =
        match reqwest::Client::builder().timeout(Duration::from_millis(state.limits.callback_timeout_ms)).build() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "cannot build the callback HTTP client");
                return;
            }
        };
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        if corp.faults().callback_reorder {
            // Let the events of a burst gather, then send them shuffled.
            tokio::time::sleep(Duration::from_millis(30)).await;
            while let Ok(next) = rx.try_recv() {
                batch.push(next);
            }
            batch.shuffle(&mut rng);
        }
        for out in batch {
            tokio::time::sleep_until(out.not_before).await;
            deliver(&state, &corp, &crypto, &client, &mut rng, out).await;
        }
    }
}

async fn deliver(
    state: &SimState,
    corp: &Corp,
    crypto: &CallbackCrypto,
    client: &reqwest::Client,
    rng: &mut ChaCha8Rng,
    out: Outgoing,
) {
    let faults = corp.faults();
    let Some(url) = corp.callback_url() else {
        state.update_callback(out.seq, |r| r.outcome = "no_callback_url".to_owned());
        return;
    };
    if !corp.is_verified(&url) {
        match verify_url(state, crypto, client, rng, &url).await {
            Ok(()) => corp.set_verified(&url),
            Err(why) => {
                tracing::warn!(corp = %corp.corp_id, %url, %why, "callback URL verification failed");
                state.update_callback(out.seq, |r| {
                    r.outcome = "url_verification_failed".to_owned();
                    r.answers.push(why.clone());
                });
                return;
            }
        }
    }
    let mut delivered = false;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(state.limits.callback_retry_ms)).await;
        }
        if rng.gen_bool(faults.callback_drop_rate.clamp(0.0, 1.0)) {
            state.update_callback(out.seq, |r| {
                r.tries += 1;
                r.dropped += 1;
                r.answers.push("dropped".to_owned());
            });
            continue;
        }
        let answer = post(state, crypto, client, rng, &url, &out.plaintext).await;
        let ok = answer == "200";
        state.update_callback(out.seq, |r| {
            r.tries += 1;
            r.answers.push(answer.clone());
        });
        if ok {
            delivered = true;
            break;
        }
    }
    if delivered && rng.gen_bool(faults.callback_duplicate_rate.clamp(0.0, 1.0)) {
        let answer = post(state, crypto, client, rng, &url, &out.plaintext).await;
        state.update_callback(out.seq, |r| {
            r.duplicates += 1;
            r.answers.push(format!("duplicate:{answer}"));
        });
    }
    state.update_callback(out.seq, |r| {
        r.delivered = delivered;
        r.outcome = if delivered { "delivered" } else { "failed" }.to_owned();
    });
}

fn nonce(rng: &mut ChaCha8Rng) -> String {
    rng.gen_range(100_000_000u64..10_000_000_000).to_string()
}

fn with_query(url: &str) -> char {
    if url.contains('?') {
        '&'
    } else {
        '?'
    }
}

/// One try; the answer is the HTTP status or why there was none.
async fn post(
    state: &SimState,
    crypto: &CallbackCrypto,
    client: &reqwest::Client,
    rng: &mut ChaCha8Rng,
    url: &str,
    plaintext: &str,
) -> String {
    let mut random = [0u8; 16];
    rng.fill(&mut random);
    let encrypt = crypto.encrypt_with_random(plaintext, &random);
    let timestamp = state.clock.now_s().to_string();
    let nonce = nonce(rng);
    let signature = crypto.signature(&timestamp, &nonce, &encrypt);
    let body = format!(
        "<xml>{}{}{}</xml>",
        cdata("ToUserName", crypto.receive_id()),
        cdata("Encrypt", &encrypt),
        cdata("AgentID", "1000002")
    );
    let target = format!("{url}{}msg_signature={signature}&timestamp={timestamp}&nonce={nonce}", with_query(url));
    match client.post(target).header("content-type", "text/xml").body(body).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so "answered within 5 s" covers all of it.
            match response.bytes().await {
                Ok(_) => status.to_string(),
                Err(error) => format!("error: {error}"),
            }
        }
        Err(error) if error.is_timeout() => "timeout".to_owned(),
        Err(error) => format!("error: {error}"),
    }
}

/// The GET WeCom sends when a callback URL is saved: the answer must be the
/// decrypted echostr, exactly.
async fn verify_url(
    state: &SimState,
    crypto: &CallbackCrypto,
    client: &reqwest::Client,
    rng: &mut ChaCha8Rng,
    url: &str,
) -> Result<(), String> {
    let echo = rng.gen_range(1_000_000_000_000_000_000u64..u64::MAX).to_string();
    let mut random = [0u8; 16];
    rng.fill(&mut random);
    let echostr = crypto.encrypt_with_random(&echo, &random);
    let timestamp = state.clock.now_s().to_string();
    let nonce = nonce(rng);
    let signature = crypto.signature(&timestamp, &nonce, &echostr);
    let response = client
        .get(url)
        .query(&[("msg_signature", &signature), ("timestamp", &timestamp), ("nonce", &nonce), ("echostr", &echostr)])
        .send()
        .await
        .map_err(|e| format!("error: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| format!("error: {e}"))?;
    if status == 200 && body == echo {
        Ok(())
    } else {
        Err(format!("verification answered {status} {body:?}, expected {echo:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koi_wecom::event::{ExternalChatChange, ExternalContactChange, UpdateDetail};
    use koi_wecom::CallbackEvent;

    #[test]
    fn events_parse_with_koi_wecom() {
        let add = SimEvent::AddContact {
            userid: "guide01".into(),
            external_userid: "wmX".into(),
            state: "store:1".into(),
            welcome_code: "CODE".into(),
            half: false,
        };
        match CallbackEvent::parse(&add.to_xml("wwcorp", 1_700_000_000)) {
            Ok(CallbackEvent::ExternalContact {
                change: ExternalContactChange::Added { state, welcome_code, .. },
                envelope,
            }) => {
                assert_eq!(state.as_deref(), Some("store:1"));
                assert_eq!(welcome_code.as_deref(), Some("CODE"));
                assert_eq!(envelope.corp_id, "wwcorp");
                assert_eq!(envelope.from_user_name, "sys");
            }
            other => panic!("{other:?}"),
        }
        let update = SimEvent::ChatUpdate {
            chat_id: "wrA".into(),
            detail: "add_member".into(),
            join_scene: Some(3),
            quit_scene: None,
            mem_change_list: vec!["wmA".into(), "wmB".into()],
            last_mem_ver: "a".into(),
            cur_mem_ver: "b".into(),
        };
        match CallbackEvent::parse(&update.to_xml("wwcorp", 1)) {
            Ok(CallbackEvent::ExternalChat {
                change: ExternalChatChange::Update { detail, join_scene, mem_change_list, mem_change_cnt, .. },
                chat_id,
                ..
            }) => {
                assert_eq!(chat_id, "wrA");
                assert_eq!(detail, UpdateDetail::AddMember);
                assert_eq!(join_scene, Some(3));
                assert_eq!(mem_change_cnt, Some(2));
                assert_eq!(mem_change_list, vec!["wmA".to_owned(), "wmB".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
        let fail = SimEvent::TransferFail {
            userid: "u".into(),
            external_userid: "wm".into(),
            reason: "customer_refused".into(),
        };
        assert!(matches!(
            CallbackEvent::parse(&fail.to_xml("c", 1)),
            Ok(CallbackEvent::ExternalContact { change: ExternalContactChange::TransferFailed { .. }, .. })
        ));
        let tag = SimEvent::Tag { change: "create".into(), id: "etA".into(), tag_type: "tag".into() };
        assert!(matches!(CallbackEvent::parse(&tag.to_xml("c", 1)), Ok(CallbackEvent::ExternalTag { .. })));
    }
}
