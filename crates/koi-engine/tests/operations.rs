//! What an operator relies on without seeing it, on SQLite and PostgreSQL:
//! corp secrets stay sealed through the engine's use cases, and the worker's
//! housekeeping prunes the callback inbox by the configured window only.

use koi_domain::access::{Principal, Role};
use koi_domain::org::CorpDraft;
use koi_engine::{Engine, Settings};
use koi_store::inbox::InboxItem;
use koi_store::secrets::MasterKey;
use koi_store::{now_ms, Db};

const DAY: i64 = 86_400_000;
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    secrets_stay_sealed(&s.db).await;
    the_inbox_is_pruned_by_its_window(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    secrets_stay_sealed(&s.db).await;
    the_inbox_is_pruned_by_its_window(&s.db).await;
}

fn owner(corp_id: i64) -> Principal {
    Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None }
}

async fn secrets_stay_sealed(db: &Db) {
    let engine = Engine::new(db.clone().with_master_key(MasterKey::generate()), Settings::default());
    let draft = CorpDraft {
        name: "悦步".into(),
        wecom_corp_id: "wwSEAL".into(),
        app_secret: "app-secret-value-123".into(),
        callback_token: "QDG6eK".into(),
        encoding_aes_key: AES_KEY.into(),
    };
    let id = engine.add_corp(draft.clone()).await.unwrap();
    let raw = db.stored_corp_secrets(id).await.unwrap().unwrap();
    assert!(raw.iter().all(|v| v.starts_with("koi1:")), "{raw:?}");
    assert!(!raw.iter().any(|v| v.contains("app-secret") || v.contains("QDG6eK") || v.contains(AES_KEY)));

    // The settings form leaves the secrets empty to keep them: they are
    // opened, kept and sealed again, not stored as the empty string or in clear.
    let edit = CorpDraft {
        name: "悦步女鞋".into(),
        app_secret: String::new(),
        callback_token: String::new(),
        encoding_aes_key: String::new(),
        ..draft.clone()
    };
    engine.update_corp(&owner(id), edit).await.unwrap();
    let corp = engine.corp(&owner(id)).await.unwrap();
    assert_eq!(
        (corp.name.as_str(), corp.app_secret.as_str(), corp.encoding_aes_key.as_str()),
        ("悦步女鞋", "app-secret-value-123", AES_KEY)
    );
    let after = db.stored_corp_secrets(id).await.unwrap().unwrap();
    assert!(after.iter().all(|v| v.starts_with("koi1:")) && after != raw, "re-sealed with fresh nonces");

    // Another key cannot read them, and says so.
    let stranger = Engine::new(db.clone().with_master_key(MasterKey::generate()), Settings::default());
    let err = stranger.corp(&owner(id)).await.unwrap_err().to_string();
    assert!(err.contains("sealed with master key"), "{err}");
}

async fn the_inbox_is_pruned_by_its_window(db: &Db) {
    let engine = Engine::new(db.clone(), Settings { inbox_keep_ms: 30 * DAY, ..Settings::default() });
    let corp_id = 7; // inbox rows name their corp; no corp row is needed
    let now = now_ms();
    let item = |key: &str, received_at| InboxItem {
        corp_id,
        dedup_key: key.into(),
        event: "change_external_contact/add_external_contact".into(),
        plaintext: format!("<xml>{key}</xml>"),
        received_at,
    };
    db.inbox_append(&[
        item("done-31d", now - 31 * DAY),
        item("done-29d", now - 29 * DAY),
        item("pending-31d", now - 31 * DAY),
    ])
    .await
    .unwrap();
    let rows = db.claim_inbox("w", 10, 60_000, now).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    for r in rows.iter().filter(|r| r.plaintext.contains("done")) {
        assert!(tx.inbox_done(r.id, "w", now).await.unwrap());
    }
    tx.commit().await.unwrap();
    for r in rows.iter().filter(|r| r.plaintext.contains("pending")) {
        db.inbox_failed(r, "w", "busy", now).await.unwrap();
    }
    assert_eq!(engine.prune_inbox(now).await.unwrap(), 1);
    let mut kept = db.inbox_keys(corp_id).await.unwrap();
    kept.sort();
    assert_eq!(kept, ["done-29d", "pending-31d"]);
    // A shorter window takes the younger processed row too, never the pending one.
    let short = Engine::new(db.clone(), Settings { inbox_keep_ms: 7 * DAY, ..Settings::default() });
    assert_eq!(short.prune_inbox(now).await.unwrap(), 1);
    assert_eq!(db.inbox_keys(corp_id).await.unwrap(), ["pending-31d"]);
}
