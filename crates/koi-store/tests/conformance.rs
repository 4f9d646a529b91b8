//! The store conformance suite: every test runs on SQLite and on PostgreSQL,
//! so a query that works on only one backend fails the build.

use koi_domain::access::Role;
use koi_domain::channel::ChannelCodeDraft;
use koi_domain::jobs::JobState;
use koi_domain::org::{CorpDraft, StaffDraft, StoreDraft};
use koi_store::events::NewEvent;
use koi_store::inbox::InboxItem;
use koi_store::jobs::{JobEnd, NewJob};
use koi_store::scratch::ScratchDb;
use koi_store::secrets::{MasterKey, SecretError};
use koi_store::users::NewUser;
use koi_store::{Db, StoreError};
use std::collections::HashSet;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
                super::$name(&s.db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
                super::$name(&s.db).await;
            }
        }
    )*};
}

on_both!(
    orders_count_once_wait_for_their_customer_and_refund_within_paid,
    order_integration_secrets_are_sealed_and_rotate,
    group_pulls_plan_each_customer_once_and_count_per_guide,
    first_order_invitations_are_made_once_per_customer_and_code,
    poster_templates_keep_their_background_and_move_their_version,
    group_codes_keep_the_operators_order_adopt_once_and_rotate_over_one_version,
    groups_keep_the_newest_read_and_each_stay_once,
    group_metrics_count_by_shanghai_day,
    group_joins_leaves_and_kinds_reach_segment_facts,
    customers_are_found_by_name_remark_phone_tag_and_stage,
    migrations_are_idempotent,
    corps_are_unique_by_wecom_id,
    corp_secrets_are_sealed_at_rest,
    a_wrong_master_key_fails_clearly,
    plain_secrets_from_before_are_sealed_on_start,
    rotating_the_master_key_keeps_every_corp_readable,
    stores_are_scoped_to_their_corp,
    staff_bind_only_their_corps_stores,
    sessions_end_on_expiry_and_deactivation,
    login_attempts_are_counted_one_by_one_in_windows,
    api_keys_resolve_until_revoked,
    an_uncommitted_transaction_leaves_nothing,
    jobs_retry_then_die,
    jobs_are_claimed_in_priority_order_under_a_lease,
    a_running_job_keeps_its_lease_while_its_worker_renews_it,
    concurrent_claimers_never_share_a_job,
    jobs_end_refused_or_given_up,
    the_inbox_buries_a_row_whose_worker_always_dies,
    events_are_deduplicated_by_key,
    the_inbox_keeps_each_callback_once_and_replays,
    the_inbox_prunes_only_old_processed_rows,
    code_reports_and_customer_filters_agree,
    a_late_deletion_does_not_undo_a_later_add,
    customers_get_dense_numbers_and_a_change_log,
    tags_fields_and_segment_facts,
    every_change_of_what_a_segment_can_name_bumps_the_refs_version,
    landing_pages_find_a_code_by_its_random_token_only,
    a_customer_has_one_live_link_until_it_is_revoked,
    a_coupon_is_redeemed_once_by_racing_counters,
    coupon_stock_and_the_per_customer_limit_hold,
    a_points_balance_never_goes_below_zero_and_earns_book_once,
    handover_items_move_forward_only_and_losses_count_once,
);

const NOW: i64 = 1_700_000_000_000;

async fn corp(db: &Db, wecom_id: &str) -> i64 {
    let d = CorpDraft {
        name: format!("corp {wecom_id}"),
        wecom_corp_id: wecom_id.into(),
        app_secret: "secret".into(),
        callback_token: "token".into(),
        encoding_aes_key: "k".repeat(43),
    };
    db.create_corp(&d, NOW).await.expect("create corp")
}

fn draft(wecom_id: &str) -> CorpDraft {
    CorpDraft {
        name: format!("corp {wecom_id}"),
        wecom_corp_id: wecom_id.into(),
        app_secret: format!("app-secret-of-{wecom_id}"),
        callback_token: format!("token{wecom_id}"),
        encoding_aes_key: format!("{wecom_id}{}", "k".repeat(43 - wecom_id.len())),
    }
}

fn assert_secrets(c: &koi_domain::org::Corp, d: &CorpDraft) {
    assert_eq!(
        (&c.app_secret, &c.callback_token, &c.encoding_aes_key),
        (&d.app_secret, &d.callback_token, &d.encoding_aes_key),
        "corp {}'s secrets read back as written",
        c.wecom_corp_id
    );
}

async fn corp_secrets_are_sealed_at_rest(db: &Db) {
    let db = db.clone().with_master_key(MasterKey::generate());
    let d = draft("wwSEALED");
    let id = db.create_corp(&d, NOW).await.unwrap();
    let stored = db.stored_corp_secrets(id).await.unwrap().expect("the row");
    for (raw, plain) in stored.iter().zip([&d.app_secret, &d.callback_token, &d.encoding_aes_key]) {
        assert!(raw.starts_with("koi1:") && !raw.contains(plain.as_str()), "{raw} is not {plain}");
    }
    assert_secrets(&db.corp(id).await.unwrap().unwrap(), &d);
    assert_secrets(&db.corp_by_wecom_id("wwSEALED").await.unwrap().unwrap(), &d);
    assert_secrets(&db.corps().await.unwrap()[0], &d);
    assert_eq!(db.secret_key_ids().await.unwrap(), [db.master_key().unwrap().id()]);

    // A change of credentials (the settings page) is sealed too, bound to
    // the corp's new WeCom id.
    let changed = CorpDraft { wecom_corp_id: "wwMOVED".into(), app_secret: "new-secret".into(), ..d };
    let mut tx = db.begin().await.unwrap();
    assert!(tx.update_corp(id, &db.seal_corp(&changed)).await.unwrap());
    tx.commit().await.unwrap();
    let raw = db.stored_corp_secrets(id).await.unwrap().unwrap();
    assert!(raw.iter().all(|v| v.starts_with("koi1:")) && !raw[0].contains("new-secret"));
    assert_secrets(&db.corp(id).await.unwrap().unwrap(), &changed);
}

async fn a_wrong_master_key_fails_clearly(db: &Db) {
    let key = MasterKey::generate();
    let id = db.clone().with_master_key(key.clone()).create_corp(&draft("wwA"), NOW).await.unwrap();
    let other = MasterKey::generate();
    let err = db.clone().with_master_key(other.clone()).corp(id).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Secret(SecretError::WrongKey { .. })), "{err:?}");
    assert!(message.contains(key.id()) && message.contains(other.id()), "names both keys: {message}");
    assert!(!message.contains(&key.to_base64()), "and never the key itself");
    let err = db.corps().await.unwrap_err();
    assert!(matches!(err, StoreError::Secret(SecretError::NoKey { .. })), "no key at all: {err:?}");
}

async fn plain_secrets_from_before_are_sealed_on_start(db: &Db) {
    // Rows written before sealing existed: plain text.
    let (a, b) = (draft("wwA"), draft("wwB"));
    let ids = [db.create_corp(&a, NOW).await.unwrap(), db.create_corp(&b, NOW).await.unwrap()];
    assert_eq!(db.stored_corp_secrets(ids[0]).await.unwrap().unwrap()[0], a.app_secret);
    assert!(db.secret_key_ids().await.unwrap().is_empty());
    let keyed = db.clone().with_master_key(MasterKey::generate());
    assert_secrets(&keyed.corp(ids[0]).await.unwrap().unwrap(), &a);
    assert_eq!(keyed.seal_plain_secrets().await.unwrap(), 2);
    assert_eq!(keyed.seal_plain_secrets().await.unwrap(), 0, "a second start has nothing left to seal");
    for (id, d) in ids.iter().zip([&a, &b]) {
        let raw = db.stored_corp_secrets(*id).await.unwrap().unwrap();
        assert!(raw.iter().all(|v| v.starts_with("koi1:")), "{raw:?}");
        assert_secrets(&keyed.corp(*id).await.unwrap().unwrap(), d);
    }
}

async fn rotating_the_master_key_keeps_every_corp_readable(db: &Db) {
    let old = MasterKey::generate();
    let keyed = db.clone().with_master_key(old.clone());
    let drafts: Vec<CorpDraft> = ["wwA", "wwB", "wwC"].into_iter().map(draft).collect();
    for d in &drafts {
        keyed.create_corp(d, NOW).await.unwrap();
    }
    let before = keyed.stored_corp_secrets(1).await.unwrap().unwrap();
    let new = MasterKey::generate();
    let (n, rotated) = keyed.rotate_master_key(new.clone()).await.unwrap();
    assert_eq!(n, 3);
    assert_eq!(rotated.secret_key_ids().await.unwrap(), [new.id()], "every corp moved to the new key");
    for (c, d) in rotated.corps().await.unwrap().iter().zip(&drafts) {
        assert_secrets(c, d);
    }
    assert_ne!(rotated.stored_corp_secrets(1).await.unwrap().unwrap(), before);
    assert!(
        matches!(keyed.corps().await, Err(StoreError::Secret(SecretError::WrongKey { .. }))),
        "the old key is done"
    );
    // A rotation with the wrong key in hand changes nothing.
    let wrong = db.clone().with_master_key(MasterKey::generate());
    assert!(wrong.rotate_master_key(MasterKey::generate()).await.is_err());
    assert_eq!(rotated.secret_key_ids().await.unwrap(), [new.id()]);
    assert_eq!(rotated.corps().await.unwrap().len(), 3);
}

fn store(code: &str) -> StoreDraft {
    StoreDraft {
        code: code.into(),
        name: format!("店 {code}"),
        lat: Some(31.2),
        lng: Some(121.4),
        ..Default::default()
    }
}

async fn add_store(db: &Db, corp_id: i64, code: &str) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let id = tx.insert_store(corp_id, &store(code), NOW).await.expect("insert store");
    tx.commit().await.unwrap();
    id
}

async fn migrations_are_idempotent(db: &Db) {
    assert_eq!(db.migrate().await.expect("second migrate"), 0);
    db.ping().await.expect("ping");
}

async fn corps_are_unique_by_wecom_id(db: &Db) {
    let a = corp(db, "wwA").await;
    let err = db
        .create_corp(&CorpDraft { name: "x".into(), wecom_corp_id: "wwA".into(), ..Default::default() }, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { what: "corp_id" }), "{err:?}");
    let found = db.corp_by_wecom_id("wwA").await.unwrap().expect("corp by wecom id");
    assert_eq!(found.id, a);
    assert_eq!(found.encoding_aes_key.len(), 43);
    assert_eq!(db.corps().await.unwrap().len(), 1);
}

async fn stores_are_scoped_to_their_corp(db: &Db) {
    let a = corp(db, "wwA").await;
    let b = corp(db, "wwB").await;
    let s1 = add_store(db, a, "SH-2").await;
    add_store(db, a, "SH-1").await;
    add_store(db, b, "SH-1").await; // same code, other corp: fine

    let mut tx = db.begin().await.unwrap();
    let err = tx.insert_store(a, &store("SH-1"), NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { what: "store_code" }), "{err:?}");
    drop(tx);

    let codes: Vec<_> = db.stores(a).await.unwrap().into_iter().map(|s| s.code).collect();
    assert_eq!(codes, ["SH-1", "SH-2"]);
    assert!(db.store(b, s1).await.unwrap().is_none(), "corp B must not read corp A's store");

    let mut tx = db.begin().await.unwrap();
    assert!(!tx.update_store(b, s1, &store("X"), NOW + 1).await.unwrap(), "corp B must not edit corp A's store");
    let renamed = StoreDraft { name: "静安旗舰店".into(), lat: None, lng: None, ..store("SH-2") };
    assert!(tx.update_store(a, s1, &renamed, NOW + 1).await.unwrap());
    tx.commit().await.unwrap();
    let s = db.store(a, s1).await.unwrap().unwrap();
    assert_eq!((s.name.as_str(), s.lat, s.updated_at), ("静安旗舰店", None, NOW + 1));
    assert_eq!(db.store_codes(a).await.unwrap().get("SH-2"), Some(&s1));
}

async fn staff_bind_only_their_corps_stores(db: &Db) {
    let a = corp(db, "wwA").await;
    let b = corp(db, "wwB").await;
    let sa = add_store(db, a, "A1").await;
    let sb = add_store(db, b, "B1").await;
    let mut tx = db.begin().await.unwrap();
    let draft = StaffDraft {
        userid: "li".into(),
        name: "李娜".into(),
        active: true,
        store_ids: vec![sa, sb],
        ..Default::default()
    };
    let id = tx.insert_staff(a, &draft, NOW).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let err = tx.insert_staff(a, &draft, NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { what: "staff_userid" }), "{err:?}");
    drop(tx);
    let staff = db.staff_list(a).await.unwrap();
    assert_eq!(staff.len(), 1);
    assert_eq!(staff[0].store_ids, [sa], "a store of another corp is never bound");

    let mut tx = db.begin().await.unwrap();
    let moved = StaffDraft { active: false, store_ids: vec![], ..draft };
    assert!(tx.update_staff(a, id, &moved, NOW + 5).await.unwrap());
    tx.commit().await.unwrap();
    let m = db.staff(a, id).await.unwrap().unwrap();
    assert!(!m.active);
    assert!(m.store_ids.is_empty());
    assert!(db.staff(b, id).await.unwrap().is_none());
}

async fn sessions_end_on_expiry_and_deactivation(db: &Db) {
    let a = corp(db, "wwA").await;
    let s = add_store(db, a, "A1").await;
    let user = NewUser {
        corp_id: a,
        username: "mgr",
        display_name: "店长",
        password_hash: "hash",
        role: Role::StoreManager,
        staff_id: None,
        store_ids: &[s],
    };
    let uid = db.create_user(&user, NOW).await.unwrap();
    let err = db.create_user(&user, NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { what: "username" }), "{err:?}");
    assert_eq!(db.credentials("mgr").await.unwrap().unwrap().user_id, uid);
    assert!(db.credentials("nobody").await.unwrap().is_none());

    db.create_session("t1", uid, "csrf1", NOW, NOW + 1000).await.unwrap();
    let live = db.session("t1", NOW + 10).await.unwrap().expect("live session");
    assert_eq!(
        (live.user.role, live.user.store_ids.as_slice(), live.csrf_token.as_str()),
        (Role::StoreManager, &[s][..], "csrf1")
    );
    assert!(db.session("t1", NOW + 1000).await.unwrap().is_none(), "expired");
    assert!(db.session("t2", NOW).await.unwrap().is_none(), "unknown");

    db.create_session("t3", uid, "csrf3", NOW, NOW + 100_000).await.unwrap();
    let b = corp(db, "wwB").await;
    assert!(!db.set_user_active(b, uid, false).await.unwrap(), "corp B cannot switch off corp A's user");
    assert!(db.session("t3", NOW + 10).await.unwrap().is_some(), "nor end their sessions");
    assert_eq!(db.delete_expired_sessions(NOW + 2000).await.unwrap(), 1);
    assert!(db.session("t3", NOW + 10).await.unwrap().is_some());
    // A new password ends every session of that user, and only theirs;
    // the console's reset cannot reach another corp's user.
    let other = NewUser { username: "other", ..user.clone() };
    let other = db.create_user(&other, NOW).await.unwrap();
    db.create_session("t4", uid, "csrf4", NOW, NOW + 100_000).await.unwrap();
    db.create_session("t5", other, "csrf5", NOW, NOW + 100_000).await.unwrap();
    assert!(!db.set_password_hash(Some(b), uid, "$argon2id$new").await.unwrap(), "not corp B's user");
    assert!(db.session("t3", NOW + 10).await.unwrap().is_some());
    assert!(db.set_password_hash(Some(a), uid, "$argon2id$new").await.unwrap());
    assert!(db.session("t3", NOW + 10).await.unwrap().is_none(), "a new password ends sessions");
    assert!(db.session("t4", NOW + 10).await.unwrap().is_none());
    assert!(db.session("t5", NOW + 10).await.unwrap().is_some(), "another user's stay");
    assert_eq!(db.credentials("mgr").await.unwrap().unwrap().password_hash, "$argon2id$new");
    assert!(db.set_password_hash(None, other, "$argon2id$cli").await.unwrap(), "the CLI, any corp");
    assert!(db.session("t5", NOW + 10).await.unwrap().is_none());
    assert!(!db.set_password_hash(None, 999_999, "x").await.unwrap());
    // So does a new role, which takes the new stores with it.
    let s2 = add_store(db, a, "A2").await;
    db.create_session("t6", uid, "csrf6", NOW, NOW + 100_000).await.unwrap();
    assert!(!db.set_user_role(b, uid, Role::Owner, &[]).await.unwrap(), "not corp B's user");
    assert_eq!(db.session("t6", NOW + 10).await.unwrap().unwrap().user.role, Role::StoreManager);
    assert!(db.set_user_role(a, uid, Role::StoreManager, &[s2]).await.unwrap());
    assert!(db.session("t6", NOW + 10).await.unwrap().is_none(), "a new role ends sessions");
    let u = db.user(a, uid).await.unwrap().unwrap();
    assert_eq!((u.role, u.store_ids), (Role::StoreManager, vec![s2]));
    assert!(db.set_user_role(a, uid, Role::HqOperator, &[]).await.unwrap());
    let u = db.user(a, uid).await.unwrap().unwrap();
    assert_eq!((u.role, u.store_ids), (Role::HqOperator, vec![]));
    assert!(db.set_user_role(a, uid, Role::StoreManager, &[s]).await.unwrap());
    db.create_session("t3", uid, "csrf3", NOW, NOW + 100_000).await.unwrap();
    assert!(db.set_user_active(a, uid, false).await.unwrap());
    assert!(db.session("t3", NOW + 10).await.unwrap().is_none(), "deactivation ends sessions");
    assert_eq!(db.users(a).await.unwrap()[0].store_ids, [s]);
}

/// Every parallel attempt gets its own number (no two read the same count),
/// a new window starts afresh, a success is taken back, old windows prune.
async fn login_attempts_are_counted_one_by_one_in_windows(db: &Db) {
    const WINDOW: i64 = 60_000;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.count_login_attempt("user:owner", NOW, WINDOW).await.unwrap() })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        let c = t.await.unwrap();
        assert_eq!(c.window_start, NOW);
        numbers.push(c.attempts);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=40).collect::<Vec<i64>>(), "each attempt counted once");
    let later = db.count_login_attempt("user:owner", NOW + WINDOW - 1, WINDOW).await.unwrap();
    assert_eq!((later.attempts, later.window_start), (41, NOW), "still the same window");
    db.uncount_login_attempt("user:owner", NOW).await.unwrap();
    let fresh = db.count_login_attempt("user:owner", NOW + WINDOW, WINDOW).await.unwrap();
    assert_eq!((fresh.attempts, fresh.window_start), (1, NOW + WINDOW), "a new window");
    db.uncount_login_attempt("user:owner", NOW).await.unwrap();
    assert_eq!(
        db.count_login_attempt("user:owner", NOW + WINDOW, WINDOW).await.unwrap().attempts,
        2,
        "an old window's take-back does nothing"
    );
    db.uncount_login_attempt("user:owner", NOW + WINDOW).await.unwrap();
    assert_eq!(db.count_login_attempt("user:owner", NOW + WINDOW, WINDOW).await.unwrap().attempts, 2);
    db.count_login_attempt("addr:10.0.0.1", NOW, WINDOW).await.unwrap();
    db.clear_login_attempts("user:owner").await.unwrap();
    assert_eq!(db.count_login_attempt("user:owner", NOW + WINDOW, WINDOW).await.unwrap().attempts, 1, "cleared");
    assert_eq!(db.prune_login_limits(NOW).await.unwrap(), 1, "only the address's old window");
    assert_eq!(db.count_login_attempt("addr:10.0.0.1", NOW + 1, WINDOW).await.unwrap().attempts, 1);
}

async fn api_keys_resolve_until_revoked(db: &Db) {
    let a = corp(db, "wwA").await;
    let b = corp(db, "wwB").await;
    let id = db.create_api_key(a, "erp", "k1", "hash1", Role::HqOperator, NOW).await.unwrap();
    let k = db.api_key_by_hash("hash1", NOW + 1).await.unwrap().expect("key");
    assert_eq!((k.corp_id, k.role), (a, Role::HqOperator));
    assert_eq!(db.api_keys(a).await.unwrap()[0].last_used_at, Some(NOW + 1));
    assert!(!db.revoke_api_key(b, id, NOW).await.unwrap(), "corp B cannot revoke corp A's key");
    assert!(db.revoke_api_key(a, id, NOW).await.unwrap());
    assert!(db.api_key_by_hash("hash1", NOW + 2).await.unwrap().is_none());
}

async fn an_uncommitted_transaction_leaves_nothing(db: &Db) {
    let a = corp(db, "wwA").await;
    {
        let mut tx = db.begin().await.unwrap();
        tx.insert_store(a, &store("GONE"), NOW).await.unwrap();
        tx.enqueue(&NewJob::new(Some(a), "test.noop", "{}", NOW), NOW).await.unwrap();
        // dropped without commit
    }
    assert!(db.stores(a).await.unwrap().is_empty());
    assert!(db.jobs(a, None, 10).await.unwrap().is_empty());
}

async fn jobs_retry_then_die(db: &Db) {
    let a = corp(db, "wwA").await;
    let job = NewJob { max_attempts: 2, ..NewJob::new(Some(a), "test.fail", "{}", NOW) };
    let id = db.enqueue(&job, NOW).await.unwrap();
    let claimed = db.claim_jobs("w1", 10, 60_000, NOW).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(db.fail_job(&claimed[0], "w1", "boom", NOW).await.unwrap(), Some(JobState::Queued));
    assert!(db.claim_jobs("w1", 10, 60_000, NOW + 999).await.unwrap().is_empty(), "backoff holds the job");
    let again = db.claim_jobs("w1", 10, 60_000, NOW + 1000).await.unwrap();
    assert_eq!(again[0].attempts, 2);
    assert_eq!(db.fail_job(&again[0], "w1", "boom again", NOW + 1000).await.unwrap(), Some(JobState::Dead));
    assert_eq!(db.fail_job(&again[0], "w1", "late", NOW + 1001).await.unwrap(), None, "no longer held");
    let dead = db.jobs(a, Some(JobState::Dead), 10).await.unwrap();
    assert_eq!((dead[0].id, dead[0].last_error.as_deref()), (id, Some("boom again")));
    let counts = db.job_counts(a).await.unwrap();
    assert!(counts.contains(&(JobState::Dead, 1)));

    assert!(db.retry_job(a, id, NOW + 2000).await.unwrap());
    assert!(!db.retry_job(a, id, NOW + 2000).await.unwrap(), "only dead letters are retried");
    let back = db.claim_jobs("w2", 10, 60_000, NOW + 2000).await.unwrap();
    assert_eq!(back[0].attempts, 1);
    assert!(db.complete_job(back[0].id, "w2", NOW + 2001).await.unwrap());
    assert_eq!(db.prune_done_jobs(NOW + 3000).await.unwrap(), 1);
}

async fn jobs_are_claimed_in_priority_order_under_a_lease(db: &Db) {
    let a = corp(db, "wwA").await;
    let low = db.enqueue(&NewJob { priority: 200, ..NewJob::new(Some(a), "low", "{}", NOW) }, NOW).await.unwrap();
    let high = db.enqueue(&NewJob { priority: 10, ..NewJob::new(Some(a), "high", "{}", NOW) }, NOW).await.unwrap();
    let later = NewJob { run_at: NOW + 50_000, ..NewJob::new(Some(a), "later", "{}", NOW) };
    db.enqueue(&later, NOW).await.unwrap();

    let first = db.claim_jobs("w1", 1, 1_000, NOW).await.unwrap();
    assert_eq!(first[0].id, high);
    let second = db.claim_jobs("w2", 5, 1_000, NOW).await.unwrap();
    assert_eq!(second.iter().map(|j| j.id).collect::<Vec<_>>(), [low], "the future job waits");

    // w1 dies; after its lease the job goes to w3, and w1 can no longer finish it.
    let retaken = db.claim_jobs("w3", 5, 1_000, NOW + 1_001).await.unwrap();
    let ids: HashSet<_> = retaken.iter().map(|j| j.id).collect();
    assert_eq!(ids, HashSet::from([high, low]));
    assert!(!db.complete_job(high, "w1", NOW + 1_002).await.unwrap(), "a lost lease cannot complete");
    assert!(db.complete_job(high, "w3", NOW + 1_002).await.unwrap());

    // A job whose worker dies on its every attempt ends as a dead letter.
    let crashy =
        db.enqueue(&NewJob { max_attempts: 1, ..NewJob::new(Some(a), "crashy", "{}", NOW) }, NOW).await.unwrap();
    let held = db.claim_jobs("w4", 10, 1_000, NOW + 2_000).await.unwrap();
    assert!(held.iter().any(|j| j.id == crashy));
    assert!(db.claim_jobs("w5", 10, 1_000, NOW + 3_001).await.unwrap().iter().all(|j| j.id != crashy));
    let dead = db.jobs(a, Some(JobState::Dead), 10).await.unwrap();
    assert_eq!(dead.iter().map(|j| j.id).collect::<Vec<_>>(), [crashy]);
}

/// A worker renews the leases of the jobs it runs: nobody takes a renewed
/// job over, a renewal cannot take back a job another worker holds, and a
/// job left unrenewed (its worker died) is retaken after its lease.
async fn a_running_job_keeps_its_lease_while_its_worker_renews_it(db: &Db) {
    let a = corp(db, "wwA").await;
    let slow = db.enqueue(&NewJob::new(Some(a), "slow", "{}", NOW), NOW).await.unwrap();
    let other = db.enqueue(&NewJob::new(Some(a), "other", "{}", NOW), NOW).await.unwrap();
    assert_eq!(db.claim_jobs("w1", 10, 1_000, NOW).await.unwrap().len(), 2);
    assert_eq!(db.renew_job_leases("w1", &[slow], 1_000, NOW + 900).await.unwrap(), 1);
    let taken = db.claim_jobs("w2", 10, 1_000, NOW + 1_500).await.unwrap();
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [other], "only the unrenewed job is retaken");
    assert_eq!(db.renew_job_leases("w1", &[slow, other], 1_000, NOW + 1_600).await.unwrap(), 1, "w2 keeps other");
    assert_eq!(db.renew_job_leases("w1", &[], 1_000, NOW + 1_600).await.unwrap(), 0);
    assert!(db.claim_jobs("w3", 10, 1_000, NOW + 2_500).await.unwrap().is_empty(), "held by w1 and w2");
    assert!(db.complete_job(slow, "w1", NOW + 2_500).await.unwrap(), "the renewing worker still holds it");
    assert!(!db.complete_job(other, "w1", NOW + 2_500).await.unwrap());
}

/// A job WeCom refused for good ends `refused` with the reason (not done,
/// not retried), and a person can put it back; a job that can never work is
/// a dead letter at its first failure.
async fn jobs_end_refused_or_given_up(db: &Db) {
    let a = corp(db, "wwA").await;
    let refused = db.enqueue(&NewJob::new(Some(a), "test.refused", "{}", NOW), NOW).await.unwrap();
    let hopeless = db.enqueue(&NewJob::new(Some(a), "test.hopeless", "{}", NOW), NOW).await.unwrap();
    let claimed = db.claim_jobs("w1", 10, 60_000, NOW).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let mut tx = db.begin().await.unwrap();
    let end = JobEnd::Refused("errcode 40096: invalid external_userid".into());
    assert!(!tx.finish_job(refused, "w2", &end, NOW).await.unwrap(), "only the holder ends a job");
    assert!(tx.finish_job(refused, "w1", &end, NOW).await.unwrap());
    tx.commit().await.unwrap();
    let job = claimed.iter().find(|j| j.id == hopeless).unwrap();
    assert_eq!(db.fail_job_with(job, "w1", true, "unreadable payload", NOW).await.unwrap(), Some(JobState::Dead));

    let listed = db.jobs(a, Some(JobState::Refused), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, listed[0].last_error.as_deref()),
        (refused, Some("errcode 40096: invalid external_userid"))
    );
    let counts = db.job_counts(a).await.unwrap();
    assert!(counts.contains(&(JobState::Refused, 1)) && counts.contains(&(JobState::Dead, 1)), "{counts:?}");
    assert!(db.claim_jobs("w1", 10, 60_000, NOW + 3_600_000).await.unwrap().is_empty(), "neither runs again");
    assert!(db.retry_job(a, refused, NOW + 1).await.unwrap(), "a refused job can be retried once mended");
    assert_eq!(db.claim_jobs("w1", 10, 60_000, NOW + 1).await.unwrap()[0].id, refused);
}

/// The inbox is the same lease queue as the jobs: a row whose worker died
/// on every attempt ends `failed` (for a person to replay) instead of
/// staying `running` for ever, and an unreadable row fails at once.
async fn the_inbox_buries_a_row_whose_worker_always_dies(db: &Db) {
    let a = corp(db, "wwA").await;
    db.inbox_append(&[item(a, "crashy"), item(a, "garbled")]).await.unwrap();
    let mut at = NOW;
    for attempt in 1..=koi_store::inbox::INBOX_MAX_ATTEMPTS {
        let rows = db.claim_inbox("w1", 10, 1_000, at).await.unwrap();
        let crashy = rows.iter().find(|r| r.plaintext == "<xml>crashy</xml>").expect("claimed again");
        assert_eq!(crashy.attempts, attempt);
        if let Some(garbled) = rows.iter().find(|r| r.plaintext == "<xml>garbled</xml>") {
            db.inbox_failed_with(garbled, "w1", true, "unreadable callback", at).await.unwrap();
        }
        at += 1_001; // the lease runs out: the worker died
    }
    assert!(db.claim_inbox("w1", 10, 1_000, at).await.unwrap().is_empty());
    let counts = db.inbox_counts(a).await.unwrap();
    assert_eq!(counts, [("failed".to_string(), 2)], "both rows wait for a person");
    assert_eq!(db.inbox_replay(a, NOW).await.unwrap(), 2);
}

async fn concurrent_claimers_never_share_a_job(db: &Db) {
    let a = corp(db, "wwA").await;
    let mut tx = db.begin().await.unwrap();
    for i in 0..300 {
        tx.enqueue(&NewJob::new(Some(a), "test.count", &format!("{{\"n\":{i}}}"), NOW), NOW).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut workers = Vec::new();
    for w in 0..4 {
        let db = db.clone();
        workers.push(tokio::spawn(async move {
            let name = format!("w{w}");
            let mut got = Vec::new();
            loop {
                let jobs = db.claim_jobs(&name, 7, 600_000, NOW).await.expect("claim");
                if jobs.is_empty() {
                    break got;
                }
                for j in jobs {
                    assert!(db.complete_job(j.id, &name, NOW).await.unwrap());
                    got.push(j.id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 300, "every job ran");
    assert_eq!(unique.len(), 300, "no job ran twice");
}

async fn events_are_deduplicated_by_key(db: &Db) {
    let a = corp(db, "wwA").await;
    let b = corp(db, "wwB").await;
    let e = NewEvent {
        corp_id: a,
        kind: "store.created",
        subject: "store:1",
        actor: "user:1",
        payload: "{}",
        dedup_key: Some("k1"),
        occurred_at: NOW,
    };
    assert!(db.append_event(&e, NOW).await.unwrap().is_some());
    assert!(db.append_event(&e, NOW).await.unwrap().is_none(), "same key, same fact");
    assert!(db.append_event(&NewEvent { corp_id: b, ..e.clone() }, NOW).await.unwrap().is_some(), "keys are per corp");
    db.append_event(&NewEvent { dedup_key: None, kind: "store.updated", ..e.clone() }, NOW).await.unwrap();
    db.append_event(&NewEvent { dedup_key: None, kind: "store.updated", ..e.clone() }, NOW).await.unwrap();
    assert_eq!(db.events(a, None, None, 10).await.unwrap().len(), 3);
    assert_eq!(db.events(a, Some("store.updated"), Some("store:1"), 10).await.unwrap().len(), 2);
    assert!(db.events(a, None, Some("store:2"), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn scratch_postgres_databases_are_dropped() {
    let url = {
        let s = ScratchDb::postgres().await.expect("postgres");
        s.url.clone()
    };
    assert!(Db::open(&url).await.is_err(), "{url} should be gone");
}

fn item(corp_id: i64, key: &str) -> InboxItem {
    InboxItem {
        corp_id,
        dedup_key: key.into(),
        event: "change_external_contact/add_external_contact".into(),
        plaintext: format!("<xml>{key}</xml>"),
        received_at: NOW,
    }
}

async fn the_inbox_keeps_each_callback_once_and_replays(db: &Db) {
    let a = corp(db, "wwA").await;
    let b = corp(db, "wwB").await;
    let fresh = db.inbox_append(&[item(a, "k1"), item(a, "k2"), item(a, "k1"), item(b, "k1")]).await.unwrap();
    assert_eq!(fresh, [true, true, false, true], "a key twice in a batch is kept once; keys are per corp");
    assert_eq!(db.inbox_append(&[item(a, "k2"), item(a, "k3")]).await.unwrap(), [false, true], "a redelivery");
    // A batch larger than one statement.
    let many: Vec<_> = (0..450).map(|i| item(a, &format!("m{i}"))).collect();
    assert!(db.inbox_append(&many).await.unwrap().iter().all(|f| *f));
    assert_eq!(db.inbox_keys(a).await.unwrap().len(), 453);

    let rows = db.claim_inbox("w1", 3, 60_000, NOW).await.unwrap();
    let got: Vec<_> = rows.iter().map(|r| (r.corp_id, r.plaintext.as_str())).collect();
    assert_eq!(got, [(a, "<xml>k1</xml>"), (a, "<xml>k2</xml>"), (b, "<xml>k1</xml>")], "oldest first");
    let mut tx = db.begin().await.unwrap();
    assert!(tx.inbox_done(rows[0].id, "w1", NOW).await.unwrap());
    assert!(!tx.inbox_done(rows[2].id, "w2", NOW).await.unwrap(), "only the holder finishes a row");
    tx.commit().await.unwrap();
    db.inbox_failed(&rows[2], "w1", "boom", NOW).await.unwrap();
    let again = db.claim_inbox("w1", 1000, 60_000, NOW).await.unwrap();
    assert!(again.iter().all(|r| r.id != rows[2].id), "a failed row waits out its backoff");
    let later = db.claim_inbox("w1", 1000, 60_000, NOW + 1_000).await.unwrap();
    assert_eq!(later.iter().filter(|r| r.id == rows[2].id).count(), 1);

    let counts = db.inbox_counts(a).await.unwrap();
    assert!(counts.contains(&("done".to_string(), 1)), "{counts:?}");
    assert_eq!(db.inbox_replay(a, NOW).await.unwrap(), 1, "the done row goes back");
    assert_eq!(db.inbox_replay(b, NOW).await.unwrap(), 0, "replay is per corp");
}

async fn the_inbox_prunes_only_old_processed_rows(db: &Db) {
    const DAY: i64 = 86_400_000;
    let a = corp(db, "wwA").await;
    let b = corp(db, "wwB").await;
    let at = |corp_id, key: &str, received_at| InboxItem { received_at, ..item(corp_id, key) };
    let old = NOW - 40 * DAY;
    db.inbox_append(&[
        at(a, "old-done", old),
        at(a, "old-done-2", old + 1),
        at(b, "old-done-b", old),
        at(a, "old-failed", old),
        at(a, "old-running", old),
        at(a, "old-pending", old),
        at(a, "recent-done", NOW - DAY),
    ])
    .await
    .unwrap();
    // Settle each row as its key says: claim all, then finish or fail.
    let rows = db.claim_inbox("w1", 100, 60_000, NOW).await.unwrap();
    assert_eq!(rows.len(), 7);
    let mut tx = db.begin().await.unwrap();
    for r in &rows {
        if r.plaintext.contains("done") {
            assert!(tx.inbox_done(r.id, "w1", NOW).await.unwrap());
        }
    }
    tx.commit().await.unwrap();
    for r in &rows {
        if r.plaintext.contains("failed") {
            db.inbox_failed_with(r, "w1", true, "unreadable", NOW).await.unwrap();
        }
        if r.plaintext.contains("pending") {
            db.inbox_failed(r, "w1", "busy", NOW).await.unwrap();
        }
    }
    // "old-running" stays claimed by w1.

    let before = NOW - 30 * DAY;
    assert_eq!(db.prune_inbox(before, 2).await.unwrap(), 2, "one batch at a time");
    assert_eq!(db.prune_inbox(before, 2).await.unwrap(), 1);
    assert_eq!(db.prune_inbox(before, 2).await.unwrap(), 0, "nothing old and done is left");
    assert_eq!(db.inbox_keys(a).await.unwrap(), ["old-failed", "old-running", "old-pending", "recent-done"]);
    assert!(db.inbox_keys(b).await.unwrap().is_empty(), "every corp is pruned");
    // A redelivery of a kept key is still recognised; a pruned one is new again.
    assert_eq!(db.inbox_append(&[item(a, "recent-done"), item(a, "old-done")]).await.unwrap(), [false, true]);
}

/// Adds a customer through a code; returns the customer's id.
#[allow(clippy::too_many_arguments)]
async fn follow_via(
    db: &Db,
    corp_id: i64,
    external: &str,
    staff_id: i64,
    code_id: i64,
    store_id: i64,
    at: i64,
    returning: bool,
) -> i64 {
    use koi_store::acquisition::{CustomerProfile, NewFollow};
    let mut tx = db.begin().await.unwrap();
    let profile = CustomerProfile { external_userid: external.into(), name: external.into(), ..Default::default() };
    let (id, _) = tx.upsert_customer(corp_id, &profile, Some(code_id), Some(store_id), at, at).await.unwrap();
    let f = NewFollow {
        corp_id,
        customer_id: id,
        staff_id,
        added_at: at,
        add_way: 1,
        state: "s",
        code_id: Some(code_id),
        store_id: Some(store_id),
        returning,
    };
    tx.upsert_follow(&f, at).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// The console's per-code day report and customer filters give the same
/// numbers on both backends: integer day buckets at the brand's offset,
/// handovers not counted as losses, store scopes narrowing the list.
async fn code_reports_and_customer_filters_agree(db: &Db) {
    use koi_domain::customer::CustomerFilter;
    use koi_store::reports::{CodeDayCount, CodeTotals};
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    const OFFSET: i64 = 8 * HOUR;
    let corp_id = corp(db, "wwREPORT").await;
    let (s1, s2) = (add_store(db, corp_id, "R1").await, add_store(db, corp_id, "R2").await);
    let mut tx = db.begin().await.unwrap();
    let mut staff = Vec::new();
    for userid in ["st1", "st2"] {
        let d = StaffDraft {
            userid: userid.into(),
            name: userid.into(),
            active: true,
            store_ids: vec![s1],
            ..Default::default()
        };
        staff.push(tx.insert_staff(corp_id, &d, NOW).await.unwrap());
    }
    let c1 = tx.insert_channel_code(corp_id, "c1", Some(s1), &ChannelCodeDraft::default(), NOW).await.unwrap();
    let c2 = tx.insert_channel_code(corp_id, "c2", None, &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    let (st1, st2) = (staff[0], staff[1]);

    let old = follow_via(db, corp_id, "cu0", st1, c1, s1, NOW - 40 * DAY, false).await;
    let cu1 = follow_via(db, corp_id, "cu1", st1, c1, s1, NOW, false).await;
    let cu2 = follow_via(db, corp_id, "cu2", st1, c1, s1, NOW + HOUR, false).await;
    let cu4 = follow_via(db, corp_id, "cu4", st2, c1, s1, NOW, false).await;
    let cu3 = follow_via(db, corp_id, "cu3", st2, c1, s2, NOW + DAY, true).await;
    let cu5 = follow_via(db, corp_id, "cu5", st1, c2, s1, NOW, false).await;
    let mut tx = db.begin().await.unwrap();
    assert!(tx.mark_follow_deleted(corp_id, cu2, st1, "customer", NOW + DAY).await.unwrap());
    assert!(tx.mark_follow_deleted(corp_id, cu4, st2, "transfer", NOW + 2 * HOUR).await.unwrap());
    tx.commit().await.unwrap();

    let day0 = (NOW + OFFSET) / DAY;
    let cell = |day, staff_id, store_id, adds, returning, deletions| CodeDayCount {
        day,
        staff_id,
        store_id: Some(store_id),
        adds,
        returning,
        deletions,
    };
    let mut expected = vec![
        cell(day0, st1, s1, 2, 0, 0),
        cell(day0, st2, s1, 1, 0, 0),
        cell(day0 + 1, st1, s1, 0, 0, 1),
        cell(day0 + 1, st2, s2, 1, 1, 0),
    ];
    expected.sort_by_key(|c| (c.day, c.staff_id, c.store_id));
    let got = db.code_day_counts(corp_id, c1, NOW - 30 * DAY, OFFSET).await.unwrap();
    assert_eq!(got, expected);

    let mut totals = db.code_totals(corp_id).await.unwrap();
    totals.sort_by_key(|t| t.code_id);
    assert_eq!(totals, [CodeTotals { code_id: c1, adds: 5, live: 3 }, CodeTotals { code_id: c2, adds: 1, live: 1 }]);

    let scoped = |f: CustomerFilter, scope: Option<Vec<i64>>| async move {
        let page = db.customer_page(corp_id, &f, scope.as_deref(), 100, 0).await.unwrap();
        page.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let ids = |f: CustomerFilter| async move {
        db.customer_page(corp_id, &f, None, 100, 0).await.unwrap().into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let all = CustomerFilter::default();
    assert_eq!(ids(all.clone()).await, [cu5, cu3, cu4, cu2, cu1, old], "newest first");
    assert_eq!(ids(CustomerFilter { code_id: Some(c1), ..all.clone() }).await, [cu3, cu4, cu2, cu1, old]);
    assert_eq!(ids(CustomerFilter { lost: true, ..all.clone() }).await, [cu4, cu2]);
    assert_eq!(ids(CustomerFilter { returning: Some(true), ..all.clone() }).await, [cu3]);
    assert_eq!(ids(CustomerFilter { returning: Some(false), staff_id: Some(st2), ..all.clone() }).await, [cu4]);
    assert_eq!(ids(CustomerFilter { store_id: Some(s2), ..all.clone() }).await, [cu3]);
    assert_eq!(scoped(all.clone(), Some(vec![s2])).await, [cu3]);
    assert!(scoped(all.clone(), Some(vec![])).await.is_empty());
    let page2 = db.customer_page(corp_id, &all, None, 2, 2).await.unwrap();
    assert_eq!(page2.iter().map(|c| c.id).collect::<Vec<_>>(), [cu4, cu2]);
    let follows = db.follows_of_customers(corp_id, &[cu2, cu3]).await.unwrap();
    assert_eq!(follows.len(), 2);
    assert_eq!(
        follows.iter().find(|f| f.customer_id == cu2).and_then(|f| f.deleted_by.clone()),
        Some("customer".into())
    );
}

async fn a_late_deletion_does_not_undo_a_later_add(db: &Db) {
    use koi_store::acquisition::{CustomerProfile, NewFollow};
    let a = corp(db, "wwA").await;
    let mut tx = db.begin().await.unwrap();
    let staff = tx
        .insert_staff(a, &StaffDraft { userid: "g".into(), name: "g".into(), active: true, ..Default::default() }, NOW)
        .await
        .unwrap();
    let p = CustomerProfile { external_userid: "wmX".into(), name: "X".into(), kind: 1, ..Default::default() };
    let (customer, new) = tx.upsert_customer(a, &p, None, None, NOW, NOW).await.unwrap();
    assert!(new);
    let follow = |added_at| NewFollow {
        corp_id: a,
        customer_id: customer,
        staff_id: staff,
        added_at,
        add_way: 1,
        state: "",
        code_id: None,
        store_id: None,
        returning: false,
    };
    tx.upsert_follow(&follow(NOW), NOW).await.unwrap();
    assert!(tx.mark_follow_deleted(a, customer, staff, "customer", NOW + 10).await.unwrap());
    assert!(
        !tx.mark_follow_deleted(a, customer, staff, "customer", NOW + 10).await.unwrap(),
        "a replay changes nothing"
    );
    tx.upsert_follow(&follow(NOW + 20), NOW + 20).await.unwrap();
    // The deletion of the first add arrives again, late, after the re-add.
    assert!(!tx.mark_follow_deleted(a, customer, staff, "customer", NOW + 10).await.unwrap());
    assert!(tx.follow(a, customer, staff).await.unwrap().unwrap().deleted_at.is_none(), "the re-add stands");
    tx.commit().await.unwrap();
}

async fn staff_member(db: &Db, corp_id: i64, userid: &str, store_id: i64) -> i64 {
    let d = StaffDraft {
        userid: userid.into(),
        name: userid.into(),
        mobile: String::new(),
        active: true,
        store_ids: vec![store_id],
    };
    let mut tx = db.begin().await.unwrap();
    let id = tx.insert_staff(corp_id, &d, NOW).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// Each corp numbers its customers 0, 1, 2…; every write a segment could
/// see leaves an entry in the corp's change log, in commit order.
async fn customers_get_dense_numbers_and_a_change_log(db: &Db) {
    let (a, b) = (corp(db, "wwDENSE1").await, corp(db, "wwDENSE2").await);
    let (sa, sb) = (add_store(db, a, "D1").await, add_store(db, b, "D2").await);
    let (ma, mb) = (staff_member(db, a, "ua", sa).await, staff_member(db, b, "ub", sb).await);
    let mut tx = db.begin().await.unwrap();
    let (ca, cb) = (
        tx.insert_channel_code(a, "a", Some(sa), &ChannelCodeDraft::default(), NOW).await.unwrap(),
        tx.insert_channel_code(b, "b", Some(sb), &ChannelCodeDraft::default(), NOW).await.unwrap(),
    );
    tx.commit().await.unwrap();
    let before = 0; // the log is read per corp: corp A's starts empty
    let a0 = follow_via(db, a, "wmA0", ma, ca, sa, NOW, false).await;
    let b0 = follow_via(db, b, "wmB0", mb, cb, sb, NOW, false).await;
    let a1 = follow_via(db, a, "wmA1", ma, ca, sa, NOW, false).await;
    let mut nos = Vec::new();
    for (corp, id) in [(a, a0), (b, b0), (a, a1)] {
        nos.push(db.customer_activity(corp, id).await.unwrap().unwrap().no);
    }
    assert_eq!(nos, [0, 0, 1]);
    let by_no: Vec<(i64, u32)> = db.segment_facts(a, None).await.unwrap().iter().map(|(id, f)| (*id, f.id)).collect();
    assert_eq!(by_no, [(a0, 0), (a1, 1)], "the index sees each customer under its number");
    let log = db.customer_changes(a, before, 100).await.unwrap();
    let who: Vec<i64> = log.iter().map(|c| c.customer_id).collect();
    assert_eq!(who, [a0, a0, a1, a1], "insert and follow of each, corp A only");
    assert!(log.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(db.customer_changes(a, log[1].id, 100).await.unwrap().len(), 2, "read on from an id");
    // The horizon: nothing recorded before the epoch; everything before the far future.
    assert_eq!(db.change_horizon(a, 0).await.unwrap(), 0);
    assert_eq!(db.change_horizon(a, i64::MAX).await.unwrap(), log[3].id);
    assert!(db.prune_customer_changes(i64::MAX).await.unwrap() >= 4);
    assert!(db.customer_changes(a, 0, 100).await.unwrap().is_empty());
}

/// The tag catalogue, customer tags and fields, and the facts a segment
/// index loads from them.
async fn tags_fields_and_segment_facts(db: &Db) {
    use koi_store::customers::TagRow;
    let corp_id = corp(db, "wwTAGS").await;
    let store = add_store(db, corp_id, "T1").await;
    let (m1, m2) = (staff_member(db, corp_id, "u1", store).await, staff_member(db, corp_id, "u2", store).await);
    let mut tx = db.begin().await.unwrap();
    let code = tx.insert_channel_code(corp_id, "c", Some(store), &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    let c = follow_via(db, corp_id, "wmT", m1, code, store, NOW, false).await;
    follow_via(db, corp_id, "wmT", m2, code, store, NOW, false).await;
    let tag = |id: &str, name: &str, group: &str| TagRow {
        group_id: group.into(),
        group_name: format!("组{group}"),
        group_order: 0,
        tag_id: id.into(),
        name: name.into(),
        order: 0,
    };
    let mut tx = db.begin().await.unwrap();
    tx.upsert_tag(corp_id, &tag("etA", "A", "etG1"), NOW).await.unwrap();
    tx.upsert_tag(corp_id, &tag("etB", "B", "etG2"), NOW).await.unwrap();
    tx.upsert_tag(corp_id, &tag("etA", "A2", "etG1"), NOW).await.unwrap();
    assert!(tx.tag_customer(corp_id, c, "etA", "user:1", NOW).await.unwrap());
    assert!(!tx.tag_customer(corp_id, c, "etA", "user:1", NOW).await.unwrap(), "once");
    assert!(tx.tag_customer(corp_id, c, "etB", "rule:1", NOW).await.unwrap());
    tx.set_customer_field(corp_id, c, "size", Some("38"), NOW).await.unwrap();
    tx.set_customer_field(corp_id, c, "skin", Some("干性"), NOW).await.unwrap();
    tx.set_customer_field(corp_id, c, "skin", None, NOW).await.unwrap();
    let mut row = tx.customer_activity(corp_id, c).await.unwrap().unwrap();
    (row.stage, row.rfm_r, row.orders, row.spent_fen, row.influence) = ("converted".into(), Some(5), 2, 19_900, 7);
    (row.home_lat, row.home_lng, row.last_active_at) = (Some(31.2), Some(121.4), Some(NOW));
    assert!(tx.set_customer_activity(corp_id, &row).await.unwrap());
    // m2 lost the customer: the code stays, the guide and store of it go.
    assert!(tx.mark_follow_deleted(corp_id, c, m2, "customer", NOW + 1).await.unwrap());
    tx.commit().await.unwrap();

    let catalogue = db.tag_catalogue(corp_id).await.unwrap();
    assert_eq!(catalogue.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["A2", "B"], "renamed, not doubled");
    assert_eq!(db.tag_counts(corp_id).await.unwrap().get("etA"), Some(&1));
    let tags = db.customer_tags(corp_id, c).await.unwrap();
    assert_eq!(
        tags.iter().map(|t| (t.tag_id.as_str(), t.source.as_str())).collect::<Vec<_>>(),
        [("etA", "user:1"), ("etB", "rule:1")]
    );
    assert_eq!(db.customer_fields(corp_id, c).await.unwrap(), [("size".to_string(), "38".to_string())]);

    let facts = db.segment_facts(corp_id, None).await.unwrap();
    assert_eq!(facts.len(), 1);
    let (id, f) = &facts[0];
    assert_eq!(*id, c);
    assert_eq!(f.tags.iter().map(String::as_str).collect::<Vec<_>>(), ["etA", "etB"]);
    assert_eq!((f.staff.len(), f.staff.contains(&m1), f.codes.len(), f.stores.len()), (1, true, 1, 1));
    assert_eq!(
        (f.stage, f.rfm, f.orders, f.spent_fen, f.influence),
        (koi_domain::segment::Stage::Converted, [Some(5), None, None], 2, 19_900, 7)
    );
    assert_eq!(f.home, Some((31.2f32, 121.4f32)));
    assert_eq!(f.fields.get("size").map(String::as_str), Some("38"));
    assert_eq!(db.segment_facts(corp_id, Some(&[c])).await.unwrap(), facts, "one customer reads the same");

    let briefs = db.customer_briefs(corp_id, &[c, 999_999]).await.unwrap();
    assert_eq!((briefs.len(), briefs[0].tags.len(), briefs[0].stage.as_str()), (1, 2, "converted"));
    let found = db.resolve_customers(corp_id, &["wmT".into(), "wmNONE".into()]).await.unwrap();
    assert_eq!(found, [("wmT".to_string(), c)]);

    // Deleting a tag takes it off every customer, and an empty group with it.
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.delete_tag(corp_id, "etB").await.unwrap(), [c]);
    tx.commit().await.unwrap();
    assert_eq!(db.tag_catalogue(corp_id).await.unwrap().len(), 1);
    assert_eq!(db.customer_tags(corp_id, c).await.unwrap().len(), 1);
    // Field definitions: unique by name; deleting one clears its values.
    assert!(db.insert_field_def(corp_id, "size", "鞋码", "\"date\"", NOW).await.unwrap().is_some());
    assert!(db.insert_field_def(corp_id, "size", "again", "\"date\"", NOW).await.unwrap().is_none());
    assert!(db.delete_field_def(corp_id, "size").await.unwrap());
    assert!(db.customer_fields(corp_id, c).await.unwrap().is_empty());
}

/// One table of a migrated schema, in terms both databases can state.
#[derive(Debug, PartialEq, Eq)]
struct TableShape {
    /// (column, type class, not null), by name.
    columns: std::collections::BTreeSet<(String, &'static str, bool)>,
    primary_key: Vec<String>,
    /// Column lists of the unique constraints and unique indexes.
    unique: std::collections::BTreeSet<Vec<String>>,
    /// Named (`CREATE INDEX`) indexes: (name, columns, unique, partial).
    indexes: std::collections::BTreeSet<(String, Vec<String>, bool, bool)>,
}

/// A column type as a class, so `BIGSERIAL` and `INTEGER PRIMARY KEY`, or
/// `DOUBLE PRECISION` and `REAL`, count as the same.
fn type_class(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") || t.contains("serial") {
        "integer"
    } else if t.contains("char") || t.contains("text") || t.contains("clob") {
        "text"
    } else if t.contains("real") || t.contains("double") || t.contains("float") || t.contains("numeric") {
        "real"
    } else if t.contains("bool") {
        "boolean"
    } else if t.contains("blob") || t.contains("bytea") {
        "bytes"
    } else {
        "other"
    }
}

/// Every row of a catalogue query, each column read as text.
macro_rules! text_rows {
    ($conn:expr, $sql:expr, $($bind:expr),*) => {{
        use sqlx::Row;
        let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(&mut *$conn).await.expect($sql);
        rows.iter()
            .map(|r| (0..r.len()).map(|i| r.try_get::<Option<String>, _>(i).expect("text").unwrap_or_default()).collect())
            .collect::<Vec<Vec<String>>>()
    }};
}

async fn sqlite_schema(url: &str) -> std::collections::BTreeMap<String, TableShape> {
    use sqlx::Connection;
    let c = &mut sqlx::SqliteConnection::connect(url).await.expect("open the SQLite file");
    let mut out = std::collections::BTreeMap::new();
    for table in text_rows!(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",) {
        let table = table[0].clone();
        let mut shape = TableShape {
            columns: Default::default(),
            primary_key: vec![],
            unique: Default::default(),
            indexes: Default::default(),
        };
        let mut pk: Vec<(i64, String)> = vec![];
        let columns = "SELECT name, type, CAST(\"notnull\" AS TEXT), CAST(pk AS TEXT) FROM pragma_table_info($1)";
        for col in text_rows!(c, columns, &table) {
            let in_pk: i64 = col[3].parse().expect("a position in the key");
            if in_pk > 0 {
                pk.push((in_pk, col[0].clone()));
            }
            shape.columns.insert((col[0].clone(), type_class(&col[1]), col[2] == "1" || in_pk > 0));
        }
        pk.sort();
        shape.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        let indexes = "SELECT name, CAST(\"unique\" AS TEXT), origin, CAST(partial AS TEXT) FROM pragma_index_list($1)";
        for ix in text_rows!(c, indexes, &table) {
            let info = "SELECT coalesce(name, '<expr>') FROM pragma_index_info($1) ORDER BY seqno";
            let cols: Vec<String> = text_rows!(c, info, &ix[0]).into_iter().map(|r| r[0].clone()).collect();
            match ix[2].as_str() {
                "pk" => {}
                "u" => {
                    shape.unique.insert(cols);
                }
                _ => {
                    if ix[1] == "1" && ix[3] == "0" {
                        shape.unique.insert(cols.clone());
                    }
                    shape.indexes.insert((ix[0].clone(), cols, ix[1] == "1", ix[3] == "1"));
                }
            }
        }
        out.insert(table, shape);
    }
    out
}

async fn postgres_schema(url: &str) -> std::collections::BTreeMap<String, TableShape> {
    use sqlx::Connection;
    let c = &mut sqlx::PgConnection::connect(url).await.expect("connect to PostgreSQL");
    let mut out = std::collections::BTreeMap::new();
    let tables =
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'";
    for table in text_rows!(c, tables,) {
        let table = table[0].clone();
        let mut shape = TableShape {
            columns: Default::default(),
            primary_key: vec![],
            unique: Default::default(),
            indexes: Default::default(),
        };
        let columns =
            "SELECT column_name::text, data_type::text, (is_nullable = 'NO')::text FROM information_schema.columns \
                       WHERE table_schema = 'public' AND table_name = $1";
        for col in text_rows!(c, columns, &table) {
            shape.columns.insert((col[0].clone(), type_class(&col[1]), col[2] == "true"));
        }
        // Each index with its columns in order ('<expr>' for an expression),
        // whether it backs a constraint, and whether it is partial.
        let indexes = "SELECT i.relname::text, ix.indisunique::text, ix.indisprimary::text, \
                       (EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid))::text, \
                       (ix.indpred IS NOT NULL)::text, \
                       array_to_string(ARRAY(SELECT coalesce(a.attname::text, '<expr>') \
                         FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                         LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum \
                         ORDER BY k.n), ',') \
                       FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
                       WHERE t.relname = $1 AND t.relnamespace = 'public'::regnamespace";
        for ix in text_rows!(c, indexes, &table) {
            let cols: Vec<String> = ix[5].split(',').map(str::to_string).collect();
            let (unique, primary, constraint, partial) =
                (ix[1] == "true", ix[2] == "true", ix[3] == "true", ix[4] == "true");
            if primary {
                shape.primary_key = cols;
            } else if constraint {
                shape.unique.insert(cols);
            } else {
                if unique && !partial {
                    shape.unique.insert(cols.clone());
                }
                shape.indexes.insert((ix[0].clone(), cols, unique, partial));
            }
        }
        out.insert(table, shape);
    }
    out
}

/// Columns PostgreSQL declares NOT NULL and SQLite cannot.
const KNOWN_NULLABLE_IN_SQLITE: [(&str, &str); 3] =
    [("customers", "no"), ("customers", "added_at"), ("channel_codes", "public_token")];

/// The two migration sets are written by hand, one per dialect: after
/// migrating, both databases have the same tables, columns (by type class
/// and nullability), keys and indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_migration_sets_agree() {
    let sqlite = ScratchDb::sqlite().await.expect("sqlite scratch db");
    let postgres = ScratchDb::postgres().await.expect("postgres scratch db");
    let (mut s, p) = (sqlite_schema(&sqlite.url).await, postgres_schema(&postgres.url).await);
    assert!(s.len() > 10, "read the SQLite schema: {:?}", s.keys());
    // SQLite cannot make an added column NOT NULL (migration 0004 says so);
    // koi always sets these. Each exception must still be one, so the list
    // cannot go stale.
    for (table, column) in KNOWN_NULLABLE_IN_SQLITE {
        let shape = s.get_mut(table).expect("the table");
        let col = shape.columns.iter().find(|c| c.0 == column).cloned().expect("the column");
        assert!(!col.2, "{table}.{column} is NOT NULL on SQLite now: drop it from the exceptions");
        shape.columns.remove(&col);
        shape.columns.insert((col.0, col.1, true));
    }
    let names = |m: &std::collections::BTreeMap<String, TableShape>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&s), names(&p), "the same tables");
    let mut differ = Vec::new();
    for (table, shape) in &s {
        if shape != &p[table] {
            differ.push(format!("{table}:\n  sqlite:   {shape:?}\n  postgres: {:?}", p[table]));
        }
    }
    assert!(differ.is_empty(), "the migration sets disagree:\n{}", differ.join("\n"));
}

/// Whatever changes what a segment expression can name — tags, stores and
/// where they are, staff, channel codes, custom fields — grows the corp's
/// refs version when it commits (the segment index reads the names again
/// then); customer writes and other corps do not, nor a rolled-back write.
async fn every_change_of_what_a_segment_can_name_bumps_the_refs_version(db: &Db) {
    use koi_store::customers::TagRow;
    let (a, b) = (corp(db, "wwREFS1").await, corp(db, "wwREFS2").await);
    assert_eq!(db.segment_refs_version(a).await.unwrap(), 0, "nothing named yet");
    let mut seen = 0;
    macro_rules! grew {
        ($what:literal) => {
            let now = db.segment_refs_version(a).await.unwrap();
            assert!(now > seen, "{} must bump the refs version ({seen} → {now})", $what);
            seen = now;
        };
    }
    let store_id = add_store(db, a, "R1").await;
    grew!("a new store");
    let mut tx = db.begin().await.unwrap();
    let moved = StoreDraft { lat: Some(39.9), lng: Some(116.4), ..store("R1") };
    assert!(tx.update_store(a, store_id, &moved, NOW).await.unwrap());
    tx.commit().await.unwrap();
    grew!("a moved store");
    let staff = staff_member(db, a, "r1", store_id).await;
    grew!("a new staff member");
    let mut tx = db.begin().await.unwrap();
    let code = tx.insert_channel_code(a, "c", Some(store_id), &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    grew!("a new channel code");
    let mut tx = db.begin().await.unwrap();
    let failed = tx.insert_channel_code(a, "failed", None, &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    grew!("another new channel code");
    db.delete_channel_code(a, failed).await.unwrap();
    grew!("a deleted channel code");
    let tag = TagRow {
        group_id: "etG".into(),
        group_name: "组".into(),
        group_order: 0,
        tag_id: "etR".into(),
        name: "R".into(),
        order: 0,
    };
    let mut tx = db.begin().await.unwrap();
    tx.upsert_tag(a, &tag, NOW).await.unwrap();
    tx.commit().await.unwrap();
    grew!("a new tag");
    let mut tx = db.begin().await.unwrap();
    tx.upsert_tag(a, &TagRow { name: "R2".into(), ..tag.clone() }, NOW).await.unwrap();
    tx.commit().await.unwrap();
    grew!("a renamed tag");
    assert!(db.insert_field_def(a, "size", "鞋码", "\"date\"", NOW).await.unwrap().is_some());
    grew!("a new custom field");
    assert!(db.delete_field_def(a, "size").await.unwrap());
    grew!("a deleted custom field");
    let mut tx = db.begin().await.unwrap();
    tx.delete_tag(a, "etR").await.unwrap();
    tx.commit().await.unwrap();
    grew!("a deleted tag");

    let mut tx = db.begin().await.unwrap();
    tx.insert_store(a, &store("R2"), NOW).await.unwrap();
    drop(tx);
    follow_via(db, a, "wmREFS", staff, code, store_id, NOW, false).await;
    add_store(db, b, "R1").await;
    assert_eq!(db.segment_refs_version(a).await.unwrap(), seen, "rolled back, customers, another corp");
    assert!(db.segment_refs_version(b).await.unwrap() > 0);
}

/// A code's landing page is reached by a random token, never its sequential
/// id; a switched-off code has none.
async fn landing_pages_find_a_code_by_its_random_token_only(db: &Db) {
    let a = corp(db, "wwTOKEN").await;
    let mut tx = db.begin().await.unwrap();
    let one = tx.insert_channel_code(a, "one", None, &ChannelCodeDraft::default(), NOW).await.unwrap();
    let two = tx.insert_channel_code(a, "two", None, &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    let (one_row, two_row) =
        (db.channel_code(a, one).await.unwrap().unwrap(), db.channel_code(a, two).await.unwrap().unwrap());
    let token = one_row.public_token.clone();
    assert!(token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()), "{token:?}");
    assert_ne!(token, two_row.public_token, "each code its own token");
    assert_eq!(db.channel_code_by_token(&token).await.unwrap().map(|r| r.id), Some(one));
    assert_eq!(db.channel_code_by_token(&one.to_string()).await.unwrap(), None, "an id is no token");
    assert_eq!(db.channel_code_by_token("").await.unwrap(), None);
    db.set_channel_code_active(a, one, false, NOW).await.unwrap();
    assert_eq!(db.channel_code_by_token(&token).await.unwrap(), None, "a switched-off code has no landing page");
    // A code brought in with its history is dated back, in its own corp only.
    let mut tx = db.begin().await.unwrap();
    assert!(tx.set_channel_code_created_at(a, two, NOW - 86_400_000).await.unwrap());
    assert!(!tx.set_channel_code_created_at(a + 1, two, 0).await.unwrap(), "another corp's code is not touched");
    tx.commit().await.unwrap();
    assert_eq!(db.channel_code(a, two).await.unwrap().unwrap().created_at, NOW - 86_400_000);
}

/// Codes made before public tokens existed get one each when the database
/// is migrated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_codes_get_public_tokens_on_migration() {
    for backend in ["sqlite", "postgres"] {
        let scratch = match backend {
            "sqlite" => ScratchDb::sqlite_through(4).await,
            _ => ScratchDb::postgres_through(4).await,
        }
        .expect("scratch db at version 4");
        let db = &scratch.db;
        let a = corp(db, "wwBACKFILL").await;
        let draft = serde_json::to_string(&ChannelCodeDraft::default()).unwrap();
        let insert =
            "INSERT INTO channel_codes (corp_id, name, draft, created_at, updated_at) VALUES ($1, $2, $3, 0, 0)";
        for name in ["old1", "old2"] {
            if backend == "sqlite" {
                use sqlx::Connection;
                let mut c = sqlx::SqliteConnection::connect(&scratch.url).await.unwrap();
                sqlx::query(insert).bind(a).bind(name).bind(&draft).execute(&mut c).await.unwrap();
            } else {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
                sqlx::query(insert).bind(a).bind(name).bind(&draft).execute(&mut c).await.unwrap();
            }
        }
        assert!(db.migrate().await.unwrap() >= 1, "{backend}: the token migration runs");
        let codes = db.channel_codes(a).await.unwrap();
        assert_eq!(codes.len(), 2);
        let tokens: HashSet<&str> = codes.iter().map(|c| c.public_token.as_str()).collect();
        assert_eq!(tokens.len(), 2, "{backend}: distinct tokens {tokens:?}");
        for c in &codes {
            assert!(c.public_token.len() >= 32, "{backend}: {:?}", c.public_token);
            assert_eq!(db.channel_code_by_token(&c.public_token).await.unwrap().map(|r| r.id), Some(c.id));
        }
    }
}

/// The customer list finds a customer by name (any case), a guide's remark
/// or phone, or the exact external id; by tag and by stage; counts what
/// matches over all pages; takes `%` and `_` literally; and dates each
/// customer by the first add, not by when koi wrote the row.
async fn customers_are_found_by_name_remark_phone_tag_and_stage(db: &Db) {
    use koi_domain::customer::CustomerFilter;
    use koi_store::acquisition::CustomerProfile;
    let corp_id = corp(db, "wwSEARCH").await;
    let s1 = add_store(db, corp_id, "S1").await;
    let mut tx = db.begin().await.unwrap();
    let d =
        StaffDraft { userid: "g1".into(), name: "g1".into(), active: true, store_ids: vec![s1], ..Default::default() };
    let g1 = tx.insert_staff(corp_id, &d, NOW).await.unwrap();
    let code = tx.insert_channel_code(corp_id, "c", Some(s1), &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    let anna = follow_via(db, corp_id, "wmANNA", g1, code, s1, NOW - 60_000, false).await;
    let bo = follow_via(db, corp_id, "wmBO", g1, code, s1, NOW, false).await;
    let pct = follow_via(db, corp_id, "wm100%", g1, code, s1, NOW, false).await;
    let mut tx = db.begin().await.unwrap();
    // Renamed as WeCom says; the follow gets the guide's remark and phones.
    let p = CustomerProfile { external_userid: "wmANNA".into(), name: "Anna 王".into(), ..Default::default() };
    tx.upsert_customer(corp_id, &p, None, None, NOW + 5_000, NOW + 5_000).await.unwrap();
    let f = tx.follow(corp_id, bo, g1).await.unwrap().expect("bo's follow");
    tx.set_follow_remark(f.id, "老客 VIP", &["13800001111".into(), " ".into()]).await.unwrap();
    tx.tag_customer(corp_id, bo, "etVIP", "import", NOW).await.unwrap();
    let mut a = tx.customer_activity(corp_id, anna).await.unwrap().expect("anna");
    a.stage = "converted".into();
    tx.set_customer_activity(corp_id, &a).await.unwrap();
    tx.commit().await.unwrap();

    let find = |f: CustomerFilter| async move {
        let ids =
            db.customer_page(corp_id, &f, None, 100, 0).await.unwrap().into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(db.customer_count(corp_id, &f, None).await.unwrap(), ids.len() as i64, "the count of {f:?}");
        ids
    };
    let text = |t: &str| CustomerFilter { search: Some(t.into()), ..Default::default() };
    assert_eq!(find(CustomerFilter::default()).await, [pct, bo, anna]);
    assert_eq!(find(text("anna")).await, [anna], "name, any case");
    assert_eq!(find(text("王")).await, [anna]);
    assert_eq!(find(text("VIP")).await, [bo], "remark");
    assert_eq!(find(text("0000111")).await, [bo], "phone");
    assert_eq!(find(text("wmANNA")).await, [anna], "external id (her name no longer says it)");
    assert!(find(text("wmANN")).await.is_empty(), "external ids match whole");
    assert_eq!(find(text("100%")).await, [pct], "a % is literal");
    assert!(find(text("_")).await.is_empty(), "so is an _");
    assert_eq!(find(CustomerFilter { tag_id: Some("etVIP".into()), ..Default::default() }).await, [bo]);
    assert_eq!(find(CustomerFilter { stage: Some("converted".into()), ..Default::default() }).await, [anna]);
    let both = CustomerFilter { stage: Some("converted".into()), search: Some("wm".into()), ..Default::default() };
    assert!(find(both).await.is_empty(), "filters combine");
    assert_eq!(db.customer_count(corp_id, &CustomerFilter::default(), None).await.unwrap(), 3);

    let page = db.customer_page(corp_id, &text("anna"), None, 10, 0).await.unwrap();
    assert_eq!(page[0].added_at, NOW - 60_000, "the first add, not the refresh");
    let follows = db.follows_of_customers(corp_id, &[bo]).await.unwrap();
    assert_eq!((follows[0].remark.as_str(), follows[0].remark_mobiles.as_str()), ("老客 VIP", "13800001111"));
}

/// Groups and their members on both backends: a newer read wins over an
/// older one whatever order they commit in, a stay is recorded once, leaving
/// ends it, coming back is a new stay, and the list filters by kind, store,
/// owner and a manager's stores.
async fn groups_keep_the_newest_read_and_each_stay_once(db: &Db) {
    use koi_store::groups::{GroupFilter, GroupState, NewMember};
    let corp_id = corp(db, "wwGROUPS").await;
    let store = add_store(db, corp_id, "G1").await;
    let state = |name: &'static str, ver: &'static str| GroupState {
        name,
        owner_userid: "zhangsan",
        owner_staff_id: None,
        notice: "",
        member_version: ver,
        created_at: 1_000,
    };
    let mut tx = db.begin().await.unwrap();
    let g = tx.ensure_group(corp_id, "wrA").await.unwrap();
    assert_eq!(tx.ensure_group(corp_id, "wrA").await.unwrap(), g, "one row per chat id");
    assert!(tx.claim_group_sync(g, &state("new", "v2"), 200).await.unwrap());
    assert!(!tx.claim_group_sync(g, &state("old", "v1"), 100).await.unwrap(), "an older read is not recorded");
    assert!(!tx.claim_group_dismissed(g, 150).await.unwrap(), "nor an older dismissal");
    let m = |userid: &'static str, join_time: i64| NewMember {
        userid,
        member_type: "customer",
        customer_id: None,
        name: userid,
        join_time,
        join_scene: 3,
        invitor: "",
        state: "",
    };
    assert!(tx.insert_group_member(corp_id, g, &m("wmA", 10)).await.unwrap());
    assert!(!tx.insert_group_member(corp_id, g, &m("wmA", 10)).await.unwrap(), "a stay is recorded once");
    assert!(tx.insert_group_member(corp_id, g, &m("wmB", 11)).await.unwrap());
    assert_eq!(tx.recount_group(g).await.unwrap(), 2);
    let present = tx.present_members(corp_id, g).await.unwrap();
    let a = present.iter().find(|p| p.userid == "wmA").unwrap().id;
    assert!(tx.end_group_member(a, 500).await.unwrap());
    assert!(!tx.end_group_member(a, 600).await.unwrap(), "a stay ends once");
    assert!(tx.insert_group_member(corp_id, g, &m("wmA", 20)).await.unwrap(), "coming back is a new stay");
    assert_eq!(tx.recount_group(g).await.unwrap(), 2);
    assert!(tx.set_group_kind_store(corp_id, g, Some("vip"), Some(Some(store))).await.unwrap());
    let other = tx.ensure_group(corp_id, "wrB").await.unwrap();
    assert!(tx.claim_group_dismissed(other, 300).await.unwrap());
    tx.commit().await.unwrap();

    let row = db.group(corp_id, g).await.unwrap().unwrap();
    assert_eq!((row.name.as_str(), row.member_version.as_str(), row.synced_at), ("new", "v2", 200));
    assert_eq!((row.kind.as_str(), row.store_id, row.members, row.status.as_str()), ("vip", Some(store), 2, "active"));
    assert_eq!(db.group_by_chat_id(corp_id, "wrB").await.unwrap().unwrap().status, "dismissed");
    let all = db.group_members(corp_id, g, true).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all.last().unwrap().left_at, Some(500), "past stays come last");
    assert_eq!(db.group_members(corp_id, g, false).await.unwrap().len(), 2);
    assert_eq!(db.active_chat_ids(corp_id).await.unwrap(), ["wrA"]);

    let ids = |rows: Vec<koi_store::groups::GroupRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let f = |kind, store_id, owner, stores| GroupFilter { kind, store_id, owner, stores, ..Default::default() };
    assert_eq!(ids(db.groups(corp_id, &f(Some("vip"), None, None, None), 50).await.unwrap()), [g]);
    assert_eq!(ids(db.groups(corp_id, &f(None, Some(store), Some("zhangsan"), None), 50).await.unwrap()), [g]);
    assert!(db.groups(corp_id, &f(Some("paid"), None, None, None), 50).await.unwrap().is_empty());
    assert_eq!(db.groups(corp_id, &f(None, None, None, None), 50).await.unwrap().len(), 2);
    let (mine, none): (&[i64], &[i64]) = (&[store], &[]);
    assert_eq!(ids(db.groups(corp_id, &f(None, None, None, Some(mine)), 50).await.unwrap()), [g]);
    assert!(db.groups(corp_id, &f(None, None, None, Some(none)), 50).await.unwrap().is_empty());
    let size = |min_members, max_members| GroupFilter { min_members, max_members, ..Default::default() };
    assert_eq!(ids(db.groups(corp_id, &size(Some(2), Some(2)), 50).await.unwrap()), [g], "size: group A has 2");
    assert_eq!(db.groups(corp_id, &size(None, Some(1)), 50).await.unwrap().len(), 1, "the dismissed group has 0");
    assert!(db.groups(corp_id, &size(Some(3), None), 50).await.unwrap().is_empty());
    // Taking the group off its store.
    let mut tx = db.begin().await.unwrap();
    tx.set_group_kind_store(corp_id, g, None, Some(None)).await.unwrap();
    tx.commit().await.unwrap();
    let row = db.group(corp_id, g).await.unwrap().unwrap();
    assert_eq!((row.kind.as_str(), row.store_id), ("vip", None));
    // Many at once, past one statement's rows: only the new stays come back.
    let refs = db.segment_refs_version(corp_id).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let big = tx.ensure_group(corp_id, "wrBig").await.unwrap();
    tx.ensure_group(corp_id, "wrBig").await.unwrap();
    let names: Vec<String> = (0..1_200).map(|i| format!("wm{i:04}")).collect();
    let rows: Vec<NewMember> = names.iter().map(|u| NewMember { userid: u, ..m("x", 5) }).collect();
    assert_eq!(tx.insert_group_members(corp_id, big, &rows[..700]).await.unwrap().len(), 700);
    let again = tx.insert_group_members(corp_id, big, &rows).await.unwrap();
    assert_eq!(again.len(), 500, "the first 700 were recorded already");
    assert!(again.contains(&(names[1_199].clone(), 5)) && !again.contains(&(names[0].clone(), 5)));
    assert_eq!(tx.recount_group(big).await.unwrap(), 1_200);
    tx.commit().await.unwrap();
    // A new group, even one WeCom gave no name, is something a segment can
    // name (`group:ID`): the refs move once.
    assert_eq!(db.segment_refs_version(corp_id).await.unwrap(), refs + 1);
}

async fn group_codes_keep_the_operators_order_adopt_once_and_rotate_over_one_version(db: &Db) {
    use koi_store::group_codes::{GroupCodeEdit, NewGroupCode};
    use koi_store::groups::NewMember;
    let corp_id = corp(db, "wwGCODES").await;
    let mut tx = db.begin().await.unwrap();
    let groups: Vec<i64> = {
        let mut v = vec![];
        for chat in ["wr1", "wr2", "wr3", "wrAuto"] {
            v.push(tx.ensure_group(corp_id, chat).await.unwrap());
        }
        v
    };
    let new = NewGroupCode {
        corp_id,
        name: "周年庆群",
        code_type: "rotating",
        public_token: "token-of-the-code",
        settings: "{}",
        state: "kgabc",
        config_id: Some("cfg1"),
        qr_code: Some("https://qr/1"),
        listed: "[\"wr3\",\"wr1\"]",
        now: NOW,
        ..Default::default()
    };
    let code = tx.insert_group_code(&new).await.unwrap();
    tx.set_code_groups(corp_id, code, &[groups[2], groups[0], groups[1]]).await.unwrap();
    // Members: two QR joins through the code in wr3 (one of them left), one invited.
    let m = |userid: &'static str, scene: i32, state: &'static str| NewMember {
        userid,
        member_type: "customer",
        name: userid,
        join_time: 10,
        join_scene: scene,
        state,
        ..Default::default()
    };
    tx.insert_group_member(corp_id, groups[2], &m("wmA", 3, "kgabc")).await.unwrap();
    tx.insert_group_member(corp_id, groups[2], &m("wmB", 3, "kgabc")).await.unwrap();
    tx.insert_group_member(corp_id, groups[2], &m("wmC", 1, "")).await.unwrap();
    let gone = tx.present_members(corp_id, groups[2]).await.unwrap().into_iter().find(|p| p.userid == "wmB").unwrap();
    tx.end_group_member(gone.id, 20).await.unwrap();
    tx.recount_group(groups[2]).await.unwrap();
    assert_eq!(tx.codes_of_group(groups[0]).await.unwrap(), [code]);
    assert!(tx.codes_of_group(groups[3]).await.unwrap().is_empty());
    assert_eq!(tx.group_code_by_state(corp_id, "kgabc").await.unwrap().map(|c| c.id), Some(code));
    assert!(tx.group_code_by_state(corp_id, "").await.unwrap().is_none(), "an empty state names no code");
    // WeCom's new room is adopted at the end, once.
    assert!(tx.adopt_group(corp_id, code, groups[3]).await.unwrap());
    assert!(!tx.adopt_group(corp_id, code, groups[3]).await.unwrap());
    tx.commit().await.unwrap();

    let order =
        |rows: Vec<koi_store::group_codes::CodeGroupRow>| rows.into_iter().map(|r| r.chat_id).collect::<Vec<_>>();
    let rows = db.code_groups(corp_id, code, false).await.unwrap();
    assert_eq!(order(rows.clone()), ["wr3", "wr1", "wr2", "wrAuto"]);
    let wr3 = &rows[0];
    assert_eq!((wr3.members, wr3.qr_joins, wr3.code_joins), (2, 1, 2), "present QR joins; every stay through the code");
    assert!(rows[3].adopted && !rows[0].adopted);
    let row = db.group_code(corp_id, code).await.unwrap().unwrap();
    assert_eq!((row.listed.as_str(), row.way_version, row.warning.as_str()), ("[\"wr3\",\"wr1\"]", 0, ""));
    assert_eq!(db.group_code_by_token("token-of-the-code").await.unwrap().map(|c| c.id), Some(code));
    assert!(db.group_code_by_token("wrong").await.unwrap().is_none());
    assert_eq!(db.codes_with_ways().await.unwrap(), [(corp_id, code)]);

    // One rotation queued at a time, until a rotation starts.
    let mut tx = db.begin().await.unwrap();
    assert!(tx.queue_rotation(code).await.unwrap());
    assert!(!tx.queue_rotation(code).await.unwrap());
    tx.commit().await.unwrap();
    db.clear_rotation_queued(code).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    assert!(tx.queue_rotation(code).await.unwrap());
    // Two rotations from version 0: the first records, the second does not.
    assert!(tx.record_rotation(code, 0, "[\"wr1\"]", "low_room", NOW + 1).await.unwrap());
    assert!(!tx.record_rotation(code, 0, "[\"wr2\"]", "", NOW + 2).await.unwrap());
    tx.commit().await.unwrap();
    let row = db.group_code(corp_id, code).await.unwrap().unwrap();
    assert_eq!((row.listed.as_str(), row.way_version, row.warning.as_str()), ("[\"wr1\"]", 1, "low_room"));

    // An edit reorders and takes wr2 out: it is not adopted back.
    let mut tx = db.begin().await.unwrap();
    let edit = GroupCodeEdit { name: "周年庆群 2", store_id: None, settings: "{}", listed: "[]", now: NOW + 3 };
    assert!(tx.update_group_code(corp_id, code, &edit).await.unwrap());
    tx.set_code_groups(corp_id, code, &[groups[0], groups[2], groups[3]]).await.unwrap();
    assert!(!tx.adopt_group(corp_id, code, groups[1]).await.unwrap(), "taken out by the operator");
    tx.commit().await.unwrap();
    assert_eq!(order(db.code_groups(corp_id, code, false).await.unwrap()), ["wr1", "wr3", "wrAuto"]);
    assert_eq!(order(db.code_groups(corp_id, code, true).await.unwrap()), ["wr2"]);
    assert!(db.code_groups(corp_id, code, false).await.unwrap()[2].adopted, "adopted stays adopted");
    let row = db.group_code(corp_id, code).await.unwrap().unwrap();
    assert_eq!((row.name.as_str(), row.way_version), ("周年庆群 2", 2), "an edit moves the version");

    let mut tx = db.begin().await.unwrap();
    assert!(tx.delete_group_code(corp_id, code).await.unwrap());
    tx.commit().await.unwrap();
    assert!(db.group_code(corp_id, code).await.unwrap().is_none());
    assert!(db.group_codes(corp_id).await.unwrap().is_empty());
}

/// The world of the group metrics cases: on 2026-03-01 (Shanghai) = day D,
/// group 1 (paid, store S) and group 2 (education, no store); customers c1,
/// c2, c3; a staff owner. Times are picked on day boundaries.
struct GroupWorld {
    corp_id: i64,
    store: i64,
    g1: i64,
    g2: i64,
    c: [i64; 3],
    /// Start of D, ms.
    t: i64,
    d: i64,
}

const GDAY: i64 = 86_400_000;

async fn group_world(db: &Db) -> GroupWorld {
    use koi_store::acquisition::CustomerProfile;
    use koi_store::group_messages::NewGroupMessage;
    use koi_store::groups::{GroupState, NewMember};
    let corp_id = corp(db, "wwMETRICS").await;
    let store = add_store(db, corp_id, "M1").await;
    let d = koi_domain::calendar::days_from_civil(2026, 3, 1);
    let t = koi_domain::group::day_start(d);
    let mut tx = db.begin().await.unwrap();
    let mut c = [0; 3];
    for (i, id) in c.iter_mut().enumerate() {
        let p =
            CustomerProfile { external_userid: format!("wm{i}"), name: format!("c{i}"), kind: 1, ..Default::default() };
        *id = tx.upsert_customer(corp_id, &p, None, None, t - 30 * GDAY, t - 30 * GDAY).await.unwrap().0;
    }
    let state = |name: &'static str| GroupState {
        name,
        owner_userid: "zhangsan",
        created_at: t - 20 * GDAY,
        ..Default::default()
    };
    let g1 = tx.ensure_group(corp_id, "wrM1").await.unwrap();
    let g2 = tx.ensure_group(corp_id, "wrM2").await.unwrap();
    tx.claim_group_sync(g1, &state("付费群"), 1).await.unwrap();
    tx.claim_group_sync(g2, &state("教育群"), 1).await.unwrap();
    tx.set_group_kind_store(corp_id, g1, Some("paid"), Some(Some(store))).await.unwrap();
    tx.set_group_kind_store(corp_id, g2, Some("education"), None).await.unwrap();
    let join = async |tx: &mut koi_store::Tx, g: i64, userid: &str, customer_id: Option<i64>, at_ms: i64| {
        let m = NewMember {
            userid,
            member_type: if customer_id.is_some() { "customer" } else { "staff" },
            customer_id,
            name: userid,
            join_time: at_ms / 1000,
            join_scene: 3,
            invitor: "",
            state: "",
        };
        assert!(tx.insert_group_member(corp_id, g, &m).await.unwrap());
    };
    join(&mut tx, g1, "zhangsan", None, t - 10 * GDAY).await;
    join(&mut tx, g1, "wm0", Some(c[0]), t + 3_600_000).await; // D 01:00
    join(&mut tx, g1, "wm1", Some(c[1]), t - 1_000).await; // D−1 23:59:59
    join(&mut tx, g1, "wm2", Some(c[2]), t + GDAY - 1_000).await; // D 23:59:59
    join(&mut tx, g2, "wm0", Some(c[0]), t + GDAY + 10_000).await; // D+1
    join(&mut tx, g2, "wm1", Some(c[1]), t + 2 * GDAY + 1_000).await; // D+2
    let leave = async |tx: &mut koi_store::Tx, g: i64, userid: &str, at: i64| {
        let m = tx.present_members(corp_id, g).await.unwrap().into_iter().find(|m| m.userid == userid).unwrap();
        assert!(tx.end_group_member(m.id, at).await.unwrap());
    };
    leave(&mut tx, g1, "wm1", t + GDAY + 5).await; // D+1
    leave(&mut tx, g1, "wm2", t + 2 * GDAY).await; // D+2 00:00:00.000
    join(&mut tx, g1, "wm2", Some(c[2]), t + 5 * GDAY).await; // back, after the window
    tx.recount_group(g1).await.unwrap();
    tx.recount_group(g2).await.unwrap();
    let msgids: Vec<String> = (0..=8).map(|n| format!("msg{n}")).collect();
    let msg = |n: usize, g: i64, sender: &'static str, customer_id: Option<i64>, sent_at: i64| NewGroupMessage {
        group_id: g,
        seq: n as i64,
        msgid: &msgids[n],
        sender,
        customer_id,
        msg_type: "text",
        content: "hi",
        sent_at,
    };
    let msgs = [
        msg(1, g1, "wm0", Some(c[0]), t + 4_000_000),
        msg(2, g1, "wm0", Some(c[0]), t + 4_000_001),
        msg(3, g1, "wm0", Some(c[0]), t + GDAY - 1),
        msg(4, g1, "zhangsan", None, t),
        msg(5, g1, "wm0", Some(c[0]), t + GDAY),
        msg(6, g1, "wm0", Some(c[0]), t - 1),        // before the window
        msg(7, g1, "wm0", Some(c[0]), t + 3 * GDAY), // after it
        msg(8, g2, "wm1", Some(c[1]), t + 2 * GDAY + 5_000),
    ];
    let kept = |ids: Vec<Option<i64>>| ids.iter().flatten().count();
    assert_eq!(kept(tx.append_group_messages(corp_id, &msgs).await.unwrap()), 8);
    assert_eq!(kept(tx.append_group_messages(corp_id, &msgs[..2]).await.unwrap()), 0, "a message is kept once");
    tx.commit().await.unwrap();
    // First orders: c0 an hour after joining group 1; c1 long before.
    for (i, at) in [(0, Some(t + 2 * 3_600_000)), (1, Some(t - GDAY))] {
        let mut row = db.customer_activity(corp_id, c[i]).await.unwrap().unwrap();
        (row.orders, row.first_order_at) = (1, at);
        let mut tx = db.begin().await.unwrap();
        tx.set_customer_activity(corp_id, &row).await.unwrap();
        tx.commit().await.unwrap();
    }
    GroupWorld { corp_id, store, g1, g2, c, t, d }
}

/// Hand-checked: members at the end of each day across day boundaries,
/// joins and leaves on the Shanghai day they happened, speakers against
/// messages, and joined → first order.
async fn group_metrics_count_by_shanghai_day(db: &Db) {
    use koi_domain::group::{series, MetricsBy, Window};
    use koi_store::group_metrics::MetricsFilter;
    let w = group_world(db).await;
    let window = Window { first: w.d, last: w.d + 2 };
    let read = |by, f: MetricsFilter<'static>| {
        let db = db.clone();
        async move { db.group_metric_inputs(w.corp_id, by, &f, window.span(), 8 * 3_600_000).await.unwrap() }
    };
    let by_group = read(MetricsBy::Group, MetricsFilter::default()).await;
    assert_eq!(by_group.keys().cloned().collect::<Vec<_>>(), [w.g1.to_string(), w.g2.to_string()]);
    let (days, t) = series(&by_group[&w.g1.to_string()], window);
    let col = |f: fn(&koi_domain::group::DayMetrics) -> i64| days.iter().map(f).collect::<Vec<_>>();
    // End of D: owner, c0, c1, c2; D+1: c1 left; D+2: c2 left (at 00:00).
    assert_eq!(col(|d| d.members), [4, 3, 2]);
    assert_eq!(col(|d| d.joins), [2, 0, 0], "c1 joined a second before D; c2 at its last second");
    assert_eq!(col(|d| d.leaves), [0, 1, 1]);
    assert_eq!(col(|d| d.messages), [4, 1, 0]);
    assert_eq!(col(|d| d.speakers), [2, 1, 0], "c0's three messages on D are one speaker");
    assert_eq!((t.members_start, t.members_end, t.net, t.messages, t.speakers), (2, 2, 0, 5, 2));
    assert!((days[0].activity_rate - 0.5).abs() < 1e-9 && (t.activity_rate - 1.0).abs() < 1e-9);
    assert_eq!((t.joined_customers, t.converted), (2, 1), "c0 ordered after joining, c2 never");
    let (days2, t2) = series(&by_group[&w.g2.to_string()], window);
    assert_eq!(days2.iter().map(|d| d.members).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!((t2.speakers, t2.messages, t2.joined_customers, t2.converted), (1, 1, 2, 0));

    let by_kind = read(MetricsBy::Kind, MetricsFilter::default()).await;
    assert_eq!(by_kind.keys().cloned().collect::<Vec<_>>(), ["education", "paid"]);
    assert_eq!(by_kind["paid"], by_group[&w.g1.to_string()]);
    let by_store = read(MetricsBy::Store, MetricsFilter::default()).await;
    assert_eq!(by_store.keys().cloned().collect::<Vec<_>>(), [String::new(), w.store.to_string()]);
    assert_eq!(by_store[""], by_group[&w.g2.to_string()], "no store is a key of its own");
    let paid = read(MetricsBy::Kind, MetricsFilter { kind: Some("paid"), ..Default::default() }).await;
    assert_eq!(paid.keys().cloned().collect::<Vec<_>>(), ["paid"]);
    let one = read(MetricsBy::Group, MetricsFilter { group_id: Some(w.g2), ..Default::default() }).await;
    assert_eq!(one.len(), 1);
    let none: &'static [i64] = &[];
    assert!(read(MetricsBy::Group, MetricsFilter { stores: Some(none), ..Default::default() }).await.is_empty());
    let _ = w.t;
}

/// Joins, leaves, links and a group's kind changing reach the segment
/// facts, each with a change log entry in its transaction.
async fn group_joins_leaves_and_kinds_reach_segment_facts(db: &Db) {
    use koi_domain::group::GroupKind;
    let w = group_world(db).await;
    let groups = |facts: &[(i64, koi_domain::segment::CustomerFacts)], c: i64| {
        facts.iter().find(|(id, _)| *id == c).unwrap().1.groups.clone().into_iter().collect::<Vec<_>>()
    };
    let facts = db.segment_facts(w.corp_id, None).await.unwrap();
    assert_eq!(groups(&facts, w.c[0]), [(w.g1, GroupKind::Paid), (w.g2, GroupKind::Education)]);
    assert_eq!(groups(&facts, w.c[1]), [(w.g2, GroupKind::Education)], "c1 left group 1");
    assert_eq!(groups(&facts, w.c[2]), [(w.g1, GroupKind::Paid)], "c2 came back");
    let logged = |from: i64| {
        let db = db.clone();
        async move {
            let mut ids: Vec<i64> =
                db.customer_changes(w.corp_id, from, 100).await.unwrap().into_iter().map(|r| r.customer_id).collect();
            ids.sort_unstable();
            ids
        }
    };
    let cursor = db.customer_changes(w.corp_id, 0, 1000).await.unwrap().last().unwrap().id;
    let version = db.segment_refs_version(w.corp_id).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    tx.set_group_kind_store(w.corp_id, w.g2, Some("vip"), None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(logged(cursor).await, [w.c[0], w.c[1]], "every present customer member of group 2");
    let facts = db.segment_facts(w.corp_id, Some(&[w.c[1]])).await.unwrap();
    assert_eq!(groups(&facts, w.c[1]), [(w.g2, GroupKind::Vip)]);
    let cursor = db.customer_changes(w.corp_id, 0, 1000).await.unwrap().last().unwrap().id;
    let mut tx = db.begin().await.unwrap();
    let m = tx.present_members(w.corp_id, w.g2).await.unwrap().into_iter().find(|m| m.userid == "wm0").unwrap();
    tx.end_group_member(m.id, w.t + 9 * GDAY).await.unwrap();
    let stranger = koi_store::groups::NewMember {
        userid: "wmNEW",
        member_type: "customer",
        join_time: (w.t + 9 * GDAY) / 1000,
        ..Default::default()
    };
    tx.insert_group_member(w.corp_id, w.g2, &stranger).await.unwrap();
    let s = tx.present_members(w.corp_id, w.g2).await.unwrap().into_iter().find(|m| m.userid == "wmNEW").unwrap();
    tx.link_group_member(s.id, w.c[2]).await.unwrap();
    // A rename is a new name a segment can use.
    let renamed = koi_store::groups::GroupState { name: "VIP群", owner_userid: "zhangsan", ..Default::default() };
    tx.claim_group_sync(w.g2, &renamed, 2).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(logged(cursor).await, [w.c[0], w.c[2]], "a leave and a link; a stranger's join names no one");
    assert!(db.segment_refs_version(w.corp_id).await.unwrap() > version);
    let facts = db.segment_facts(w.corp_id, None).await.unwrap();
    assert_eq!(groups(&facts, w.c[0]), [(w.g1, GroupKind::Paid)]);
    assert_eq!(groups(&facts, w.c[2]), [(w.g1, GroupKind::Paid), (w.g2, GroupKind::Vip)]);
    assert!(db.group_names(w.corp_id).await.unwrap().contains(&(w.g2, "VIP群".to_string())));
}
#[path = "conformance/group_assistant.rs"]
mod group_assistant;

#[path = "conformance/campaigns.rs"]
mod campaigns;

#[path = "conformance/mass_sends.rs"]
mod mass_sends;

#[path = "conformance/group_sends.rs"]
mod group_sends;
/// Two guides, three customers (one added by both: the newer follow owns
/// them); a pull's tasks are planned once per guide and part, claimed once,
/// and counted per guide: sent, failed, and joined only for a sent
/// customer who joined one of the code's groups after the start.
async fn group_pulls_plan_each_customer_once_and_count_per_guide(db: &Db) {
    use koi_store::group_codes::NewGroupCode;
    use koi_store::group_pulls::{NewGroupPull, PULL_PURPOSE};
    use koi_store::groups::NewMember;
    use koi_store::outreach::{NewGuideTask, RecipientResult};
    let corp_id = corp(db, "wwPULLS").await;
    let store = add_store(db, corp_id, "P1").await;
    let (a, b) = (staff_member(db, corp_id, "guide.a", store).await, staff_member(db, corp_id, "guide.b", store).await);
    let c1 = follow_via(db, corp_id, "wmC1", a, 1, store, NOW, false).await;
    assert_eq!(follow_via(db, corp_id, "wmC1", b, 1, store, NOW + 1_000, false).await, c1);
    let c2 = follow_via(db, corp_id, "wmC2", a, 1, store, NOW, false).await;
    let c3 = follow_via(db, corp_id, "wmC3", b, 1, store, NOW, false).await;
    let guides = db.guides_of(corp_id, &[c3, c1, c2, 999_999]).await.unwrap();
    let owners: Vec<(i64, i64, &str)> = guides.iter().map(|g| (g.customer_id, g.staff_id, g.userid.as_str())).collect();
    assert_eq!(owners, [(c1, b, "guide.b"), (c2, a, "guide.a"), (c3, b, "guide.b")], "each once, newest follow");

    let started = NOW + 10_000;
    let mut tx = db.begin().await.unwrap();
    let code = NewGroupCode {
        corp_id,
        name: "付费群",
        code_type: "rotating",
        public_token: "pull-code-token",
        settings: "{}",
        state: "kgpull",
        listed: "[]",
        now: NOW,
        ..Default::default()
    };
    let code = tx.insert_group_code(&code).await.unwrap();
    let group = tx.ensure_group(corp_id, "wrPAID").await.unwrap();
    tx.set_code_groups(corp_id, code, &[group]).await.unwrap();
    let pull = NewGroupPull {
        corp_id,
        name: "拉群",
        segment_id: 1,
        segment_name: "人群",
        expr: "store:1",
        code_id: code,
        code_name: "付费群",
        text: "进群",
        link_url: "https://qr/paid",
        planned: 3,
        unfollowed: 0,
        created_by: "user:1",
        started_at: started,
    };
    let pull = tx.insert_group_pull(&pull).await.unwrap();
    let task = |staff_id: i64, sender: &'static str, recipients: &'static [(i64, String)]| NewGuideTask {
        corp_id,
        purpose: PULL_PURPOSE,
        purpose_id: pull,
        staff_id,
        sender,
        part: 0,
        content: "{}",
        recipients,
        now: NOW,
    };
    let ra: &'static [(i64, String)] = Box::leak(Box::new([(c2, "wmC2".to_string())]));
    let rb: &'static [(i64, String)] = Box::leak(Box::new([(c1, "wmC1".to_string()), (c3, "wmC3".to_string())]));
    let ta = tx.insert_guide_task(&task(a, "guide.a", ra)).await.unwrap().unwrap();
    let tb = tx.insert_guide_task(&task(b, "guide.b", rb)).await.unwrap().unwrap();
    assert_eq!(tx.insert_guide_task(&task(b, "guide.b", rb)).await.unwrap(), None, "a guide's part is planned once");
    tx.commit().await.unwrap();
    assert_eq!(db.guide_task_recipients(corp_id, tb).await.unwrap().len(), 2);

    // Claimed once; ended once.
    assert!(db.mark_guide_task_sending(corp_id, tb, true).await.unwrap());
    assert!(!db.mark_guide_task_sending(corp_id, tb, true).await.unwrap(), "a second claim fails");
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_guide_task(corp_id, tb, "created", "msgB", "", NOW).await.unwrap());
    assert!(!tx.finish_guide_task(corp_id, tb, "unknown", "", "", NOW).await.unwrap(), "ended once");
    let r = |ext: &str, state: &'static str, reason: &str| RecipientResult {
        external_userid: ext.into(),
        state,
        reason: reason.into(),
        sent_at: (state == "sent").then_some(started),
    };
    tx.record_recipient_results(corp_id, tb, &[r("wmC1", "sent", ""), r("wmC3", "failed", "not_a_friend")])
        .await
        .unwrap();
    tx.record_recipient_results(corp_id, tb, &[r("wmC1", "not_sent", "late")]).await.unwrap();
    tx.note_guide_task_read(corp_id, tb, true, NOW).await.unwrap();
    // c1 (sent) and c3 (failed) join after the start; c2 joined before it.
    for (ext, id, at) in [("wmC1", c1, started + 5_000), ("wmC3", c3, started + 5_000), ("wmC2", c2, started - 5_000)] {
        let m = NewMember {
            userid: ext,
            member_type: "customer",
            customer_id: Some(id),
            name: ext,
            join_time: at / 1000,
            join_scene: 3,
            invitor: "",
            state: "",
        };
        assert!(tx.insert_group_member(corp_id, group, &m).await.unwrap());
    }
    tx.commit().await.unwrap();
    let t = db.guide_task(corp_id, tb).await.unwrap().unwrap();
    assert_eq!((t.state.as_str(), t.wecom_msgid.as_str(), t.settled, t.polls), ("created", "msgB", true, 1));

    let results = db.pull_results(corp_id, pull, &[code], started / 1000).await.unwrap();
    let got: Vec<(i64, i64, i64, i64, i64, i64)> =
        results.iter().map(|g| (g.staff_id, g.planned, g.sent, g.not_sent, g.failed, g.joined)).collect();
    assert_eq!(got, [(a, 1, 0, 0, 0, 0), (b, 2, 1, 0, 1, 1)], "joined counts the sent customer only");
    assert_eq!(db.pull_results(corp_id, pull, &[], 0).await.unwrap()[1].joined, 0);
    let unsent = db.pull_unsent(corp_id, pull, 10).await.unwrap();
    let got: Vec<(i64, &str, &str)> =
        unsent.iter().map(|u| (u.customer_id, u.state.as_str(), u.reason.as_str())).collect();
    assert_eq!(got, [(c2, "planned", ""), (c3, "failed", "not_a_friend")]);
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.end_planned_recipients(corp_id, ta, "not_sent", "not_confirmed_by_guide").await.unwrap(), 1);
    tx.commit().await.unwrap();
    assert_eq!(db.pull_results(corp_id, pull, &[code], started / 1000).await.unwrap()[0].not_sent, 1);
    assert_eq!(db.group_pulls(corp_id, 10).await.unwrap()[0].id, pull);
    assert_eq!(db.guide_tasks_of(corp_id, PULL_PURPOSE, pull).await.unwrap().len(), 2);
    assert!(db.group_pull(corp_id + 1, pull).await.unwrap().is_none(), "another corp sees nothing");
}

/// A code's invitation after a first order: set and replaced, found while
/// its code exists; a customer counts as in a kind while present in an
/// active group of it; one invitation per customer per code.
async fn first_order_invitations_are_made_once_per_customer_and_code(db: &Db) {
    use koi_store::group_codes::NewGroupCode;
    use koi_store::group_pulls::FirstOrderInviteRow;
    use koi_store::groups::NewMember;
    let corp_id = corp(db, "wwFIRST").await;
    let store = add_store(db, corp_id, "F1").await;
    let a = staff_member(db, corp_id, "guide.a", store).await;
    let c = follow_via(db, corp_id, "wmF1", a, 1, store, NOW, false).await;
    let mut tx = db.begin().await.unwrap();
    let new = NewGroupCode {
        corp_id,
        name: "付费群",
        code_type: "rotating",
        public_token: "first-order-token",
        settings: "{}",
        state: "kgfirst",
        listed: "[]",
        now: NOW,
        ..Default::default()
    };
    let code = tx.insert_group_code(&new).await.unwrap();
    let row = |enabled: bool, text: &str| FirstOrderInviteRow {
        code_id: code,
        corp_id,
        from_kinds: "[\"education\"]".into(),
        text: text.into(),
        link_url: "https://qr/paid".into(),
        enabled,
        updated_at: NOW,
    };
    tx.set_first_order_invite(&row(false, "old")).await.unwrap();
    assert!(tx.live_first_order_invites(corp_id).await.unwrap().is_empty(), "switched off");
    tx.set_first_order_invite(&row(true, "恭喜首单")).await.unwrap();
    assert_eq!(tx.live_first_order_invites(corp_id).await.unwrap(), [row(true, "恭喜首单")]);
    assert_eq!(tx.group_code_name(corp_id, code).await.unwrap().as_deref(), Some("付费群"));
    let g = tx.ensure_group(corp_id, "wrEDU").await.unwrap();
    let kinds = ["education".to_string()];
    let m = NewMember {
        userid: "wmF1",
        member_type: "customer",
        customer_id: Some(c),
        name: "F1",
        join_time: NOW / 1000,
        join_scene: 1,
        invitor: "",
        state: "",
    };
    assert!(tx.insert_group_member(corp_id, g, &m).await.unwrap());
    assert!(!tx.in_group_of_kinds(corp_id, c, &kinds).await.unwrap(), "a custom group is not education");
    tx.set_group_kind_store(corp_id, g, Some("education"), None).await.unwrap();
    assert!(tx.in_group_of_kinds(corp_id, c, &kinds).await.unwrap());
    assert!(!tx.in_group_of_kinds(corp_id, c, &[]).await.unwrap());
    assert!(!tx.in_group_of_code(corp_id, c, code).await.unwrap(), "the education group is not the code's");
    let paid = tx.ensure_group(corp_id, "wrPAID").await.unwrap();
    assert!(tx.insert_group_member(corp_id, paid, &m).await.unwrap());
    assert!(!tx.in_group_of_code(corp_id, c, code).await.unwrap(), "not yet one of the code's groups");
    tx.set_code_groups(corp_id, code, &[paid]).await.unwrap();
    assert!(tx.in_group_of_code(corp_id, c, code).await.unwrap(), "already in the paid group");
    let in_paid = tx.present_members(corp_id, paid).await.unwrap();
    assert!(tx.end_group_member(in_paid[0].id, NOW + 1).await.unwrap());
    assert!(!tx.in_group_of_code(corp_id, c, code).await.unwrap(), "left the paid group");
    let guide = tx.guide_of(corp_id, c).await.unwrap().unwrap();
    assert_eq!((guide.staff_id, guide.external_userid.as_str()), (a, "wmF1"));
    assert!(tx.insert_first_order_invitation(corp_id, code, c, a, NOW).await.unwrap().is_some());
    assert!(tx.insert_first_order_invitation(corp_id, code, c, a, NOW).await.unwrap().is_none(), "once");
    let present = tx.present_members(corp_id, g).await.unwrap();
    assert!(tx.end_group_member(present[0].id, NOW + 1).await.unwrap());
    assert!(!tx.in_group_of_kinds(corp_id, c, &kinds).await.unwrap(), "left the group");
    tx.commit().await.unwrap();
    assert_eq!(db.first_order_invitations(corp_id, code).await.unwrap(), 1);
    assert_eq!(db.first_order_invite(corp_id, code).await.unwrap().unwrap().text, "恭喜首单");
}
#[path = "conformance/checkouts.rs"]
mod checkouts;
#[path = "conformance/distribution.rs"]
mod distribution;
#[path = "conformance/loyalty.rs"]
mod loyalty;
#[path = "conformance/pay.rs"]
mod pay;

#[path = "conformance/guide_tools.rs"]
mod guide_tools;
#[path = "conformance/sop.rs"]
mod sop;
/// A template keeps its background's bytes exactly (binary, both
/// backends), every edit moves the version on, the background is kept,
/// replaced or removed as asked, and another corp sees none of it.
async fn poster_templates_keep_their_background_and_move_their_version(db: &Db) {
    use koi_store::posters::{BackgroundWrite, PosterTemplateWrite};
    let (a, b) = (corp(db, "wwPOSTER1").await, corp(db, "wwPOSTER2").await);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let w = PosterTemplateWrite { name: "双十一海报", layout: "{\"layers\":[]}", now: 1_000 };
    let mut tx = db.begin().await.unwrap();
    let id = tx.insert_poster_template(a, &w, Some((&bytes, "image/png"))).await.unwrap();
    let plain = tx.insert_poster_template(a, &PosterTemplateWrite { name: "纯色", ..w.clone() }, None).await.unwrap();
    tx.commit().await.unwrap();

    let row = db.poster_template(a, id).await.unwrap().expect("the template");
    assert_eq!((row.name.as_str(), row.version, row.background_bytes), ("双十一海报", 1, 70_000));
    assert_eq!(row.background_type, "image/png");
    assert_eq!(db.poster_background(a, id).await.unwrap(), Some(bytes.clone()));
    assert_eq!(db.poster_background(a, plain).await.unwrap(), None);
    assert_eq!(db.poster_template(a, plain).await.unwrap().expect("plain").background_bytes, 0);
    assert_eq!(db.poster_templates(a).await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id, plain]);
    // Another corp sees nothing and changes nothing.
    assert!(db.poster_templates(b).await.unwrap().is_empty());
    assert_eq!(db.poster_template(b, id).await.unwrap(), None);
    assert_eq!(db.poster_background(b, id).await.unwrap(), None);
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.update_poster_template(b, id, &w, BackgroundWrite::Remove).await.unwrap(), None);
    assert!(!tx.delete_poster_template(b, id).await.unwrap());
    // Keep, then replace, then remove the background; each edit a version.
    let edit = PosterTemplateWrite { name: "改名", layout: "{}", now: 2_000 };
    assert_eq!(tx.update_poster_template(a, id, &edit, BackgroundWrite::Keep).await.unwrap(), Some(2));
    tx.commit().await.unwrap();
    assert_eq!(db.poster_background(a, id).await.unwrap(), Some(bytes));
    let row = db.poster_template(a, id).await.unwrap().expect("the template");
    assert_eq!((row.name.as_str(), row.layout.as_str(), row.updated_at, row.created_at), ("改名", "{}", 2_000, 1_000));
    let mut tx = db.begin().await.unwrap();
    let jpeg = [0xFFu8, 0xD8, 0x00, 0xFF];
    assert_eq!(
        tx.update_poster_template(a, id, &edit, BackgroundWrite::Set(&jpeg, "image/jpeg")).await.unwrap(),
        Some(3)
    );
    tx.commit().await.unwrap();
    assert_eq!(db.poster_background(a, id).await.unwrap(), Some(jpeg.to_vec()));
    assert_eq!(db.poster_template(a, id).await.unwrap().expect("row").background_type, "image/jpeg");
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.update_poster_template(a, id, &edit, BackgroundWrite::Remove).await.unwrap(), Some(4));
    assert!(tx.delete_poster_template(a, plain).await.unwrap());
    tx.commit().await.unwrap();
    let row = db.poster_template(a, id).await.unwrap().expect("the template");
    assert_eq!((row.background_bytes, row.background_type.as_str()), (0, ""));
    assert_eq!(db.poster_templates(a).await.unwrap().len(), 1);
}

async fn a_customer_has_one_live_link_until_it_is_revoked(db: &Db) {
    let a = corp(db, "wwLINK").await;
    let s = add_store(db, a, "L1").await;
    let m = staff_member(db, a, "ul", s).await;
    let mut tx = db.begin().await.unwrap();
    let code = tx.insert_channel_code(a, "l", Some(s), &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    let c = follow_via(db, a, "wmL0", m, code, s, NOW, false).await;
    let mut tx = db.begin().await.unwrap();
    let first = tx.customer_link(a, c, "tok-1", NOW).await.unwrap();
    let again = tx.customer_link(a, c, "tok-2", NOW).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((first.as_str(), again.as_str()), ("tok-1", "tok-1"), "one live link: the second fresh token is unused");
    assert_eq!(db.customer_of_link("tok-1").await.unwrap(), Some((a, c)));
    assert_eq!(db.customer_of_link("tok-2").await.unwrap(), None);
    let mut tx = db.begin().await.unwrap();
    assert!(tx.revoke_customer_link(a, c, NOW).await.unwrap());
    assert!(!tx.revoke_customer_link(a, c, NOW).await.unwrap(), "nothing live to revoke twice");
    let next = tx.customer_link(a, c, "tok-3", NOW).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(next, "tok-3");
    assert_eq!(db.customer_of_link("tok-1").await.unwrap(), None, "a revoked link names nobody");
    assert_eq!(db.customer_of_link("tok-3").await.unwrap(), Some((a, c)));
}

fn order_write<'a>(shop_order_id: &'a str, member_id: &'a str) -> koi_store::orders::OrderWrite<'a> {
    koi_store::orders::OrderWrite {
        shop_order_id,
        source: "api",
        ordered_at: NOW,
        store_code: "",
        store_id: None,
        amount_fen: 1000,
        paid_fen: 800,
        status: "paid",
        unionid: "",
        phone_hash: "",
        external_userid: "",
        member_id,
        coupon_guide: "",
    }
}

/// An order is one row per corp and shop order id; it waits for its
/// customer until matched once; a refund is one row per refund id, and the
/// refunded total moves only from what the writer read and never past paid.
async fn orders_count_once_wait_for_their_customer_and_refund_within_paid(db: &Db) {
    let corp_id = corp(db, "wwORDERS").await;
    let other = corp(db, "wwOTHER").await;
    let mut tx = db.begin().await.unwrap();
    let id = tx.insert_order(corp_id, &order_write("SO-1", "M1"), NOW).await.unwrap().expect("new");
    assert_eq!(tx.insert_order(corp_id, &order_write("SO-1", "M1"), NOW).await.unwrap(), None, "the same order");
    assert!(tx.insert_order(other, &order_write("SO-1", "M1"), NOW).await.unwrap().is_some(), "another corp's");
    assert_eq!(tx.waiting_orders(corp_id, &[("member_id", "M1")]).await.unwrap(), [id]);
    assert!(tx.waiting_orders(corp_id, &[("member_id", "M2"), ("unionid", "")]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    let customer = follow_via_customer(db, corp_id, "wmORD").await;
    let mut tx = db.begin().await.unwrap();
    let m = koi_store::orders::OrderMatch {
        customer_id: customer,
        matched_by: "member_id",
        staff_id: None,
        store_id: None,
        code_id: None,
        rule: "none",
        first_order: true,
    };
    assert!(tx.match_order(corp_id, id, &m, NOW).await.unwrap());
    assert!(!tx.match_order(corp_id, id, &m, NOW).await.unwrap(), "matched once");
    assert!(tx.waiting_orders(corp_id, &[("member_id", "M1")]).await.unwrap().is_empty());
    tx.learn_order_key(corp_id, "member_id", "M1", customer, NOW).await.unwrap();
    tx.learn_order_key(corp_id, "member_id", "M1", customer + 1, NOW).await.unwrap();
    assert_eq!(tx.customer_by_order_key(corp_id, "member_id", "M1").await.unwrap(), Some(customer), "first keeps it");
    assert_eq!(tx.customer_by_order_key(corp_id, "external_userid", "wmORD").await.unwrap(), Some(customer));
    assert_eq!(tx.customer_by_order_key(other, "member_id", "M1").await.unwrap(), None);
    assert!(tx.insert_refund(corp_id, id, "R1", 300, "", NOW).await.unwrap().is_some());
    assert!(tx.insert_refund(corp_id, id, "R1", 300, "", NOW).await.unwrap().is_none(), "the same refund");
    assert!(tx.refund_recorded(id, "R1").await.unwrap());
    assert!(tx.set_order_refunded(corp_id, id, 0, 300, "part_refunded", NOW).await.unwrap());
    assert!(!tx.set_order_refunded(corp_id, id, 0, 600, "part_refunded", NOW).await.unwrap(), "moved meanwhile");
    assert!(!tx.set_order_refunded(corp_id, id, 300, 801, "refunded", NOW).await.unwrap(), "never past paid");
    assert!(tx.set_order_refunded(corp_id, id, 300, 800, "refunded", NOW).await.unwrap());
    assert!(!tx.advance_order_status(corp_id, id, "done", NOW).await.unwrap(), "a refunded order stays refunded");
    tx.commit().await.unwrap();
    let filter = koi_store::orders::OrderFilter { matched: Some(true), ..Default::default() };
    let (rows, total) = db.orders_page(corp_id, &filter, 10, 0).await.unwrap();
    assert_eq!((rows.len(), total, rows[0].refunded_fen, rows[0].status.as_str()), (1, 1, 800, "refunded"));
    let scoped = koi_store::orders::OrderFilter { stores: Some(vec![1]), ..Default::default() };
    assert_eq!(db.orders_page(corp_id, &scoped, 10, 0).await.unwrap().1, 0, "a store manager sees their stores'");
    let report = db.orders_report(corp_id, "staff", NOW - 1, NOW + 1).await.unwrap();
    assert_eq!((report[0].orders, report[0].first_orders, report[0].refunded_fen), (1, 1, 800));
}

async fn follow_via_customer(db: &Db, corp_id: i64, external: &str) -> i64 {
    use koi_store::acquisition::CustomerProfile;
    let mut tx = db.begin().await.unwrap();
    let profile = CustomerProfile { external_userid: external.into(), name: external.into(), ..Default::default() };
    let (id, _) = tx.upsert_customer(corp_id, &profile, None, None, NOW, NOW).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn coupon_customer(db: &Db, corp_id: i64, external: &str) -> i64 {
    use koi_store::acquisition::CustomerProfile;
    let p = CustomerProfile { external_userid: external.into(), name: external.into(), ..Default::default() };
    let mut tx = db.begin().await.unwrap();
    let (id, _) = tx.upsert_customer(corp_id, &p, None, None, NOW, NOW).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// A webhook secret is sealed at rest, reads back open, and moves to a new
/// master key with the corps' secrets.
async fn order_integration_secrets_are_sealed_and_rotate(db: &Db) {
    let old = MasterKey::generate();
    let keyed = db.clone().with_master_key(old.clone());
    let corp_id = corp(&keyed, "wwHOOK").await;
    let mut tx = keyed.begin().await.unwrap();
    let id = tx.insert_integration(corp_id, "k1", "shop", "the-secret", keyed.master_key(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    // A name the corp uses is a conflict (PostgreSQL then aborts that transaction).
    let mut tx = keyed.begin().await.unwrap();
    assert!(matches!(
        tx.insert_integration(corp_id, "k2", "shop", "x", keyed.master_key(), NOW).await,
        Err(StoreError::Conflict { what: "integration_name" })
    ));
    drop(tx);
    let raw = keyed.stored_integration_secret(id).await.unwrap().unwrap();
    assert!(raw.starts_with("koi1:") && !raw.contains("the-secret"), "{raw}");
    assert_eq!(keyed.integrations(corp_id).await.unwrap()[0].secret, "the-secret");
    let (_, rotated) = keyed.rotate_master_key(MasterKey::generate()).await.unwrap();
    let mut tx = rotated.begin().await.unwrap();
    let row = tx.integration_by_key("k1", rotated.master_key()).await.unwrap().unwrap();
    assert_eq!(row.secret, "the-secret");
    // Marked used at most once a minute (a busy shop's posts do not queue on the row).
    for (at, seen) in [(NOW, NOW), (NOW + 59_000, NOW), (NOW + 61_000, NOW + 61_000)] {
        tx.touch_integration(id, at).await.unwrap();
        let row = tx.integration_by_key("k1", rotated.master_key()).await.unwrap().unwrap();
        assert_eq!(row.last_used_at, Some(seen), "touched at {at}");
    }
    tx.commit().await.unwrap();
    assert_ne!(rotated.stored_integration_secret(id).await.unwrap().unwrap(), raw);
}

async fn coupon_template(db: &Db, corp_id: i64, per_customer: i32, stock: Option<i64>) -> i64 {
    use koi_store::coupons::TemplateWrite;
    let w = TemplateWrite {
        name: "49-20",
        kind: "threshold",
        value_fen: 2000,
        min_fen: 4900,
        discount_pct: 0,
        gift: "",
        valid_from: None,
        valid_to: None,
        valid_days: Some(30),
        per_customer,
        stock,
        store_ids: "[]",
        now: NOW,
    };
    let mut tx = db.begin().await.unwrap();
    let id = tx.insert_coupon_template(corp_id, &w).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn new_coupon<'a>(
    corp_id: i64,
    template_id: i64,
    customer_id: i64,
    code: &'a str,
    source_ref: &'a str,
) -> koi_store::coupons::NewCoupon<'a> {
    koi_store::coupons::NewCoupon {
        corp_id,
        template_id,
        customer_id,
        code,
        valid_from: NOW,
        valid_to: NOW + 86_400_000,
        source: "hand",
        source_ref,
        issued_by: "test",
        now: NOW,
    }
}

/// Eight counters redeem one coupon at the same moment, each in its own
/// transaction on its own connection: exactly one gets it.
async fn a_coupon_is_redeemed_once_by_racing_counters(db: &Db) {
    use koi_store::coupons::{Issued, Redemption};
    let a = corp(db, "wwCOUPONRACE").await;
    let c = coupon_customer(db, a, "wmRACE").await;
    let t = coupon_template(db, a, 0, None).await;
    let mut tx = db.begin().await.unwrap();
    let issued = tx.issue_coupon(&new_coupon(a, t, c, "RACE0000CODE0001", ""), 0).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(issued, Issued::Coupon(_)));
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let db = db.clone();
        racers.spawn(async move {
            let order = format!("order-{i}");
            let r =
                Redemption { order_ref: &order, order_fen: 5000, off_fen: 2000, store_id: None, by: "pos", now: NOW };
            let mut tx = db.begin().await.unwrap();
            let got = tx.redeem_coupon(a, "RACE0000CODE0001", &r).await.unwrap();
            tx.commit().await.unwrap();
            got.map(|k| k.order_ref)
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = racers.join_next().await {
        if let Some(order) = r.unwrap() {
            winners.push(order);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one counter redeems it: {winners:?}");
    let k = db.coupon_by_code(a, "RACE0000CODE0001").await.unwrap().unwrap();
    assert_eq!((k.state.as_str(), k.order_ref), ("redeemed", winners[0].clone()));
    // A full refund gives it back while it is still valid; once.
    let mut tx = db.begin().await.unwrap();
    let order = winners[0].clone().unwrap();
    assert_eq!(tx.release_coupons_of_order(a, &order, NOW + 1).await.unwrap().len(), 1);
    assert!(tx.release_coupons_of_order(a, &order, NOW + 1).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    assert_eq!(db.coupon_by_code(a, "RACE0000CODE0001").await.unwrap().unwrap().state, "issued");
    // Past its end it expires, and an expired coupon is not redeemed.
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.expire_coupons(a, NOW + 86_400_000, 100).await.unwrap(), 1);
    let r = Redemption { order_ref: "late", order_fen: 0, off_fen: 0, store_id: None, by: "pos", now: NOW };
    assert!(tx.redeem_coupon(a, "RACE0000CODE0001", &r).await.unwrap().is_none());
    tx.commit().await.unwrap();
}

/// A template's stock and its limit per customer bound issuing, also when
/// issues race; one source issues a customer once.
async fn coupon_stock_and_the_per_customer_limit_hold(db: &Db) {
    use koi_store::coupons::Issued;
    let a = corp(db, "wwCOUPONSTOCK").await;
    let (x, y) = (coupon_customer(db, a, "wmX").await, coupon_customer(db, a, "wmY").await);
    let t = coupon_template(db, a, 2, Some(3)).await;
    let mut got = Vec::new();
    for (i, c) in [x, x, x, y, y].into_iter().enumerate() {
        let code = format!("STOCK{i:011}");
        let mut tx = db.begin().await.unwrap();
        got.push(tx.issue_coupon(&new_coupon(a, t, c, &code, ""), 2).await.unwrap());
        tx.commit().await.unwrap();
    }
    let kinds: Vec<&str> = got
        .iter()
        .map(|g| match g {
            Issued::Coupon(_) => "coupon",
            Issued::OverLimit => "over_limit",
            Issued::OutOfStock => "out_of_stock",
            Issued::Existed => "existed",
        })
        .collect();
    assert_eq!(kinds, ["coupon", "coupon", "over_limit", "coupon", "out_of_stock"]);
    let tpl = db.coupon_template(a, t).await.unwrap().unwrap();
    assert_eq!(tpl.issued, 3, "never past the stock");
    // A refused issue holds nothing: y may still get one when stock grows.
    let stats = db.coupon_stats(a).await.unwrap();
    assert_eq!((stats[0].issued, stats[0].redeemed), (3, 0));
    // Racing issues to many customers never pass the stock.
    let t2 = coupon_template(db, a, 1, Some(5)).await;
    let mut customers = Vec::new();
    for i in 0..12 {
        customers.push(coupon_customer(db, a, &format!("wmR{i}")).await);
    }
    let mut racers = tokio::task::JoinSet::new();
    for (i, c) in customers.into_iter().enumerate() {
        let db = db.clone();
        racers.spawn(async move {
            let code = format!("RACESTOCK{i:07}");
            let mut tx = db.begin().await.unwrap();
            let got = tx.issue_coupon(&new_coupon(a, t2, c, &code, "issue:1"), 1).await.unwrap();
            tx.commit().await.unwrap();
            matches!(got, Issued::Coupon(_))
        });
    }
    let mut n = 0;
    while let Some(r) = racers.join_next().await {
        n += usize::from(r.unwrap());
    }
    assert_eq!(n, 5, "exactly the stock");
    assert_eq!(db.coupon_template(a, t2).await.unwrap().unwrap().issued, 5);
    // The same source issues a customer once.
    let t3 = coupon_template(db, a, 0, None).await;
    let mut tx = db.begin().await.unwrap();
    let again = tx.issue_coupon(&new_coupon(a, t, y, "ONCEONCEONCE0001", "issue:9"), 0).await.unwrap();
    assert_eq!(again, Issued::OutOfStock);
    let first = tx.issue_coupon(&new_coupon(a, t3, y, "ONCEONCEONCE0002", "issue:9"), 0).await.unwrap();
    let second = tx.issue_coupon(&new_coupon(a, t3, y, "ONCEONCEONCE0003", "issue:9"), 0).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(first, Issued::Coupon(_)));
    assert_eq!(second, Issued::Existed);
}

/// The balance row refuses to go below zero, and an order's earn is booked
/// once however often it is posted.
async fn a_points_balance_never_goes_below_zero_and_earns_book_once(db: &Db) {
    use koi_store::coupons::NewEntry;
    let a = corp(db, "wwPOINTS").await;
    let c = coupon_customer(db, a, "wmP").await;
    let entry = |points: i64, kind: &'static str, reference: &'static str| NewEntry {
        corp_id: a,
        customer_id: c,
        points,
        kind,
        reason: "",
        reference,
        amount_fen: 4900,
        expires_at: Some(NOW + 1000),
        shortfall: 0,
        created_by: "test",
        now: NOW,
    };
    let mut tx = db.begin().await.unwrap();
    assert!(!tx.move_points_balance(a, c, -1, NOW).await.unwrap(), "not below zero");
    assert!(tx.insert_ledger_entry(&entry(49, "order", "o-1")).await.unwrap().is_some());
    assert!(tx.insert_ledger_entry(&entry(49, "order", "o-1")).await.unwrap().is_none(), "once per order");
    assert!(tx.move_points_balance(a, c, 49, NOW).await.unwrap());
    assert!(tx.insert_ledger_entry(&entry(-9, "refund", "o-1")).await.unwrap().is_some());
    assert!(tx.insert_ledger_entry(&entry(-1, "refund", "o-1")).await.unwrap().is_some(), "refunds add up");
    assert!(tx.move_points_balance(a, c, -10, NOW).await.unwrap());
    assert!(!tx.move_points_balance(a, c, -40, NOW).await.unwrap());
    assert_eq!(tx.order_earn(a, c, "o-1").await.unwrap(), Some((49, 4900)));
    assert_eq!(tx.order_taken_back(a, c, "o-1").await.unwrap(), 10);
    let lots = tx.points_lots(a, c).await.unwrap();
    assert_eq!(lots.len(), 1, "refunds are no lots");
    assert!(tx.take_from_lot(lots[0].0, 10).await.unwrap());
    assert!(!tx.take_from_lot(lots[0].0, 40).await.unwrap(), "a lot never goes below zero");
    tx.commit().await.unwrap();
    assert_eq!(db.points_balance(a, c).await.unwrap(), 39);
    assert_eq!(db.points_ledger_sum(a, c).await.unwrap(), 39, "the balance is the ledger's sum");
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.customers_with_expired_points(a, NOW + 1000, 10).await.unwrap(), vec![c]);
    tx.commit().await.unwrap();
    let facts = db.segment_facts(a, Some(&[c])).await.unwrap();
    assert_eq!(facts[0].1.points, 39, "segments see the balance");
}

/// A handover's items only move forward (a late poll or callback never
/// undoes WeCom's final word); the receiver's follow is made once whether
/// koi's poll or WeCom's add callback comes first; handovers WeCom made
/// (add_way 202) count toward the 90-day rule; a loss is recorded once and
/// counted per day and store within a manager's scope.
async fn handover_items_move_forward_only_and_losses_count_once(db: &Db) {
    use koi_store::handover::{LossMessage, NewHandover, NewItem};
    let corp_id = corp(db, "wwHANDOVER").await;
    let (s1, s2) = (add_store(db, corp_id, "H1").await, add_store(db, corp_id, "H2").await);
    let (from, to) = (staff_member(db, corp_id, "leaver", s1).await, staff_member(db, corp_id, "taker", s1).await);
    let c1 = follow_via(db, corp_id, "wmH1", from, 1, s1, NOW, false).await;
    let c2 = follow_via(db, corp_id, "wmH2", from, 1, s2, NOW, false).await;
    let followed = db.followed_customers(corp_id, from).await.unwrap();
    assert_eq!(
        followed.iter().map(|f| (f.customer_id, f.store_id)).collect::<Vec<_>>(),
        [(c1, Some(s1)), (c2, Some(s2))]
    );

    let mut tx = db.begin().await.unwrap();
    let h = NewHandover {
        corp_id,
        kind: "on_job",
        from_staff_id: from,
        message: "hi",
        include_groups: false,
        created_by: "user:1",
        now: NOW,
    };
    let id = tx.insert_handover(&h).await.unwrap();
    let batch = tx.insert_handover_batch(corp_id, id, to, NOW).await.unwrap();
    let items = [
        NewItem {
            customer_id: c1,
            external_userid: "wmH1",
            receiver_staff_id: to,
            batch_id: Some(batch),
            store_id: Some(s1),
            status: "planned",
            reason: "",
        },
        NewItem {
            customer_id: c2,
            external_userid: "wmH2",
            receiver_staff_id: to,
            batch_id: Some(batch),
            store_id: Some(s2),
            status: "planned",
            reason: "",
        },
    ];
    tx.insert_handover_items(corp_id, id, &items, NOW).await.unwrap();
    tx.commit().await.unwrap();

    assert!(db.mark_batch_sending(corp_id, batch, true).await.unwrap());
    assert!(!db.mark_batch_sending(corp_id, batch, true).await.unwrap(), "claimed once");
    assert_eq!(db.batch_customers(corp_id, batch).await.unwrap(), ["wmH1", "wmH2"]);
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_batch(corp_id, batch, "sent", "", NOW).await.unwrap());
    assert!(!tx.finish_batch(corp_id, batch, "unknown", "", NOW).await.unwrap());
    assert_eq!(tx.set_batch_items(corp_id, batch, "waiting", "", NOW).await.unwrap(), 2);
    assert_eq!(tx.waiting_handovers_of(corp_id, "wmH2", to).await.unwrap(), [id]);
    let at = NOW + 86_400_000;
    assert!(tx.set_item_status(corp_id, id, "wmH1", "accepted", "", Some(at), at).await.unwrap());
    assert!(tx.set_item_status(corp_id, id, "wmH2", "refused", "customer_refused", None, at).await.unwrap());
    // A late poll still saying "waiting", or a second word: nothing changes.
    assert!(!tx.set_item_status(corp_id, id, "wmH1", "waiting", "", None, at).await.unwrap());
    assert!(!tx.set_item_status(corp_id, id, "wmH2", "accepted", "", Some(at), at).await.unwrap());
    assert!(!tx.handover_has_open_items(corp_id, id).await.unwrap());
    assert!(tx.mark_follow_deleted(corp_id, c1, from, "transfer", at).await.unwrap());
    assert!(tx.take_over_follow(corp_id, c1, to, Some(s1), Some(1), at, at).await.unwrap());
    assert!(!tx.take_over_follow(corp_id, c1, to, Some(s1), Some(1), at, at).await.unwrap(), "once");
    tx.note_handover_poll(corp_id, id, true, at).await.unwrap();
    tx.commit().await.unwrap();
    let h = db.handover(corp_id, id).await.unwrap().unwrap();
    assert_eq!((h.state.as_str(), h.polls, h.finished_at, h.from_userid.as_str()), ("done", 1, Some(at), "leaver"));
    let items = db.handover_items(corp_id, id, Some("accepted"), 10).await.unwrap();
    assert_eq!(items.iter().map(|i| (i.customer_id, i.takeover_at)).collect::<Vec<_>>(), [(c1, Some(at))]);
    let counts = db.handover_counts(corp_id, id, id).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.n).sum::<i64>(), 2);
    assert_eq!(db.followed_customers(corp_id, to).await.unwrap().len(), 1);
    let recent = db.recent_handovers(corp_id, &[c1, c2], NOW).await.unwrap();
    assert_eq!(recent, [(c1, at)], "the takeover's follow counts; a refusal does not");

    // Losses: once per (customer, guide, moment); counted per day within a scope.
    let mut tx = db.begin().await.unwrap();
    let a1 = tx.insert_loss_alert(corp_id, c2, from, Some(s2), "2023-11-15", NOW, NOW).await.unwrap();
    assert!(a1.is_some());
    assert_eq!(tx.insert_loss_alert(corp_id, c2, from, Some(s2), "2023-11-15", NOW, NOW).await.unwrap(), None);
    tx.insert_loss_alert(corp_id, c1, to, Some(s1), "2023-11-15", NOW + 1, NOW).await.unwrap().unwrap();
    tx.set_loss_recipients(corp_id, s2, &[to]).await.unwrap();
    let sum = tx.insert_loss_summary(corp_id, s2, "2023-11-15", 1, NOW).await.unwrap();
    assert!(sum.is_some());
    assert_eq!(tx.insert_loss_summary(corp_id, s2, "2023-11-15", 1, NOW).await.unwrap(), None, "one a day");
    tx.commit().await.unwrap();
    let a1 = a1.unwrap();
    assert!(db.mark_loss_sending(LossMessage::Alert, corp_id, a1, true).await.unwrap());
    assert!(!db.mark_loss_sending(LossMessage::Alert, corp_id, a1, true).await.unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_loss_message(LossMessage::Alert, corp_id, a1, "sent", "leaver,taker", "", NOW).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(db.loss_alert(corp_id, a1).await.unwrap().unwrap().recipients, "leaver,taker");
    assert_eq!(db.loss_recipients(corp_id, s2).await.unwrap(), ["taker"]);
    let all = db.loss_counts(corp_id, "2023-11-01", "2023-11-30", None).await.unwrap();
    assert_eq!(all.iter().map(|c| c.lost).sum::<i64>(), 2);
    let mine = db.loss_counts(corp_id, "2023-11-01", "2023-11-30", Some(&[s2])).await.unwrap();
    assert_eq!(mine.iter().map(|c| (c.store_id, c.staff_id, c.lost)).collect::<Vec<_>>(), [(Some(s2), from, 1)]);
    assert!(db.loss_counts(corp_id, "2023-11-01", "2023-11-30", Some(&[])).await.unwrap().is_empty());
    assert_eq!(db.loss_alerts(corp_id, Some(&[s1]), 10).await.unwrap().len(), 1);
    assert_eq!(db.corps_with_losses_on("2023-11-15").await.unwrap(), [corp_id]);
}
