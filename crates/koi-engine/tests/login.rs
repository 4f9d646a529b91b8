//! Signing in under attack, on SQLite and PostgreSQL: a burst of parallel
//! guesses is counted exactly, so the limit holds however fast they come.

use koi_domain::access::LOGIN_MAX_FAILURES;
use koi_domain::org::CorpDraft;
use koi_engine::users::UserInput;
use koi_engine::{Engine, EngineError, Settings};
use koi_store::Db;

const PASSWORD: &str = "correct horse battery";

async fn setup(db: &Db) -> Engine {
    let engine = Engine::new(db.clone(), Settings::default());
    let d = CorpDraft {
        name: "login".into(),
        wecom_corp_id: "wwlogin".into(),
        app_secret: "secret".into(),
        callback_token: "token".into(),
        encoding_aes_key: "k".repeat(43),
    };
    let corp_id = engine.add_corp(d).await.unwrap();
    let owner =
        UserInput { username: "owner".into(), password: PASSWORD.into(), role: "owner".into(), ..Default::default() };
    engine.add_user(corp_id, &owner).await.unwrap();
    engine
}

/// What each of `n` parallel sign-ins answered: (bad password, refused).
async fn burst(engine: &Engine, n: usize, password: &str) -> (usize, usize, usize) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (engine, password) = (engine.clone(), password.to_string());
            tokio::spawn(async move { engine.login("owner", &password).await })
        })
        .collect();
    let (mut ok, mut bad, mut refused) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(EngineError::BadCredentials) => bad += 1,
            Err(EngineError::TooManyAttempts { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (ok, bad, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_guesses_is_counted_exactly_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    a_burst_of_guesses_is_counted_exactly(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_guesses_is_counted_exactly_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    a_burst_of_guesses_is_counted_exactly(&s.db).await;
}

/// 40 wrong guesses at once: exactly the limit's worth have their password
/// checked, the rest are refused, and then even the right password is.
async fn a_burst_of_guesses_is_counted_exactly(db: &Db) {
    let engine = setup(db).await;
    assert_eq!(burst(&engine, 40, "wrong guess").await, (0, LOGIN_MAX_FAILURES, 40 - LOGIN_MAX_FAILURES));
    assert!(matches!(engine.login("owner", PASSWORD).await, Err(EngineError::TooManyAttempts { .. })));
}
