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
    posters_render_once_per_template_version_and_fill(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    secrets_stay_sealed(&s.db).await;
    the_inbox_is_pruned_by_its_window(&s.db).await;
    posters_render_once_per_template_version_and_fill(&s.db).await;
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

/// A template is checked before it is kept; a participant's poster is
/// rendered once per template version and fill (the same bytes, from the
/// cache), again after an edit; a store manager may not touch templates.
async fn posters_render_once_per_template_version_and_fill(db: &Db) {
    use koi_engine::posters::{BackgroundChange, PosterTemplateDraft};
    use koi_engine::EngineError;
    use koi_poster::{Layer, Layout, PosterFill};
    let engine = Engine::new(db.clone(), Settings::default());
    let draft = CorpDraft {
        name: "海报".into(),
        wecom_corp_id: "wwPOSTERS".into(),
        app_secret: "s".into(),
        callback_token: "t".into(),
        encoding_aes_key: AES_KEY.into(),
    };
    let corp_id = engine.add_corp(draft).await.unwrap();
    let who = owner(corp_id);
    let field = |e: EngineError| match e {
        EngineError::Invalid(v) => (v.0[0].field.clone(), v.0[0].code.clone()),
        other => panic!("{other:?}"),
    };
    // Refused, and nothing kept: a layer off the canvas, an unreadable
    // background, an empty name.
    let mut off = Layout::starter();
    off.layers.push(Layer::Avatar { x: 700, y: 0, size: 100 });
    let bad = |layout: Layout| PosterTemplateDraft { name: "春季".into(), layout };
    let e = engine.create_poster_template(&who, bad(off), None).await.unwrap_err();
    assert_eq!(field(e), ("layout.layers.4.x".into(), "outside_canvas".into()));
    let e = engine.create_poster_template(&who, bad(Layout::starter()), Some(b"GIF89a".to_vec())).await.unwrap_err();
    assert_eq!(field(e), ("background".into(), "unreadable_image".into()));
    let e =
        engine.create_poster_template(&who, PosterTemplateDraft { name: " ".into(), layout: Layout::starter() }, None);
    assert_eq!(field(e.await.unwrap_err()), ("name".into(), "out_of_range".into()));
    assert!(engine.poster_templates(&who).await.unwrap().is_empty());

    let t = engine.create_poster_template(&who, bad(Layout::starter()), None).await.unwrap();
    assert_eq!((t.name.as_str(), t.version, t.background_bytes), ("春季", 1, 0));
    let fill = PosterFill {
        qr_payload: "https://koi.example/c/1?i=7".into(),
        nickname: "小锦鲤🐟".into(),
        ..Default::default()
    };
    let first = engine.poster_jpeg(corp_id, t.id, &fill).await.unwrap();
    let again = engine.poster_jpeg(corp_id, t.id, &fill).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again), "the second is the cached one");
    assert_eq!(engine.posters_cached(), 1);
    let other = PosterFill { nickname: "大锦鲤".into(), ..fill.clone() };
    assert_ne!(*engine.poster_jpeg(corp_id, t.id, &other).await.unwrap(), *first);
    // An edit moves the version on: the same fill is rendered anew.
    let mut moved = Layout::starter();
    moved.layers[3] = Layer::Qr { x: 40, y: 1000, size: 240 };
    let edited = PosterTemplateDraft { name: "春季 2".into(), layout: moved };
    let t2 = engine.update_poster_template(&who, t.id, edited, BackgroundChange::Keep).await.unwrap();
    assert_eq!(t2.version, 2);
    let after = engine.poster_jpeg(corp_id, t.id, &fill).await.unwrap();
    assert_ne!(*after, *first);
    assert_eq!(&after[..2], &[0xFF, 0xD8]);
    let preview = engine.poster_preview(&who, t.id).await.unwrap();
    assert_eq!(&preview[..2], &[0xFF, 0xD8]);
    // Not another corp's, not a store manager's.
    assert!(matches!(engine.poster_jpeg(corp_id + 1, t.id, &fill).await, Err(EngineError::NotFound(_))));
    let manager = Principal { role: Role::StoreManager, ..owner(corp_id) };
    assert!(matches!(engine.poster_templates(&manager).await, Err(EngineError::Forbidden)));
    engine.delete_poster_template(&who, t.id).await.unwrap();
    assert!(matches!(engine.poster_jpeg(corp_id, t.id, &fill).await, Err(EngineError::NotFound(_))));
}
