//! The admin commands an operator or a CI set-up runs beside `koi serve`:
//! API keys without the console, and rotating the master key.

use crate::support::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_add_prints_a_working_key_sqlite() {
    key_add_prints_a_working_key("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_add_prints_a_working_key_postgres() {
    key_add_prints_a_working_key("postgres").await;
}

async fn me(server: &Server, key: &str) -> (u16, Value) {
    let r = reqwest::Client::new().get(server.url("/api/v1/me")).bearer_auth(key).send().await.expect("GET /me");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn key_add_prints_a_working_key(backend: &str) {
    let db = scratch(backend).await;
    let a = tenant(&db.url, "wwKEYA");
    let corp = a.id.to_string();

    let plain = koi(&["key", "add", "--database-url", &db.url, "--corp", &corp, "--name", "ci", "--role", "owner"]);
    assert!(plain.starts_with("koi_") && !plain.contains(char::is_whitespace), "the bare key: {plain}");
    let json: Value = serde_json::from_str(&koi(&[
        "key",
        "add",
        "--database-url",
        &db.url,
        "--corp",
        &corp,
        "--name",
        "shop sync",
        "--json",
    ]))
    .expect("--json prints JSON");
    assert_eq!((json["corp_id"].as_i64(), json["role"].as_str()), (Some(a.id), Some("hq_operator")));
    let json_key = json["key"].as_str().expect("key").to_string();
    assert!(json["id"].as_i64().is_some());

    // Refused: no such corp, a role API keys cannot have, no name.
    assert!(koi_fails(&["key", "add", "--database-url", &db.url, "--corp", "999", "--name", "x"]).contains("no corp"));
    assert!(koi_fails(&["key", "add", "--database-url", &db.url, "--corp", &corp, "--name", "x", "--role", "guide"])
        .contains("owner or hq_operator"));
    assert!(koi_fails(&["key", "add", "--database-url", &db.url, "--corp", &corp, "--name", " "]).contains("name"));

    let server = Server::serve(&db.url);
    let (s, body) = me(&server, &plain).await;
    assert_eq!((s, body["corp_id"].as_i64(), body["role"].as_str()), (200, Some(a.id), Some("owner")), "{body}");
    let (s, body) = me(&server, &json_key).await;
    assert_eq!((s, body["role"].as_str()), (200, Some("hq_operator")), "{body}");
    let (s, _) = me(&server, &format!("{plain}0")).await;
    assert_eq!(s, 401, "a key that was never printed does not work");

    // The console lists both keys by name, and only their prefixes.
    let c = login(&server, &a.owner, PASSWORD).await;
    let html = c.get(server.url("/console/api-keys")).send().await.expect("page").text().await.expect("body");
    assert!(html.contains("ci") && html.contains("shop sync"), "both keys listed");
    assert!(!html.contains(&plain[12..]) && !html.contains(&json_key[12..]), "the keys themselves are not shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_reseals_every_corp_sqlite() {
    rotate_key_reseals_every_corp("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_reseals_every_corp_postgres() {
    rotate_key_reseals_every_corp("postgres").await;
}

/// Runs `koi ARGS` with `env` set; returns (success, stdout, stderr).
fn koi_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(KOI);
    cmd.args(args).env("RUST_LOG", "warn").env_remove("KOI_MASTER_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run koi");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).trim().to_string();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

async fn rotate_key_reseals_every_corp(backend: &str) {
    let db = scratch(backend).await;
    // A key file of this test's own: the default one may be shared.
    let dir = std::env::temp_dir().join(format!("koi-e2e-keys-{backend}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("master.key");
    let key_file = file.to_str().expect("utf-8 path");
    let with_key = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database-url", &db.url, "--master-key-file", key_file]);
        koi(&all)
    };
    let mut ids = vec![];
    for wecom_id in ["wwROTA", "wwROTB"] {
        let id = with_key(&[
            "corp",
            "add",
            "--name",
            wecom_id,
            "--corp-id",
            wecom_id,
            "--secret",
            "app-secret-value-123",
            "--token",
            "QDG6eK",
            "--aes-key",
            AES_KEY,
        ]);
        ids.push(id.parse::<i64>().expect("corp id"));
    }
    with_key(&["user", "add", "--corp", "1", "--username", "rot-owner", "--role", "owner", "--password", PASSWORD]);

    // What is at rest is not the secret; the key file is the owner's only.
    let old_key = std::fs::read_to_string(&file).expect("the key file was made on first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let store = &db.db;
    let raw = |id| async move { store.stored_corp_secrets(id).await.unwrap().expect("corp row") };
    let before = raw(ids[0]).await;
    for v in &before {
        assert!(v.starts_with("koi1:") && !v.contains("app-secret") && !v.contains(AES_KEY), "{v}");
    }

    let (ok, _, said) = koi_env(&["corp", "rotate-key", "--database-url", &db.url, "--master-key-file", key_file], &[]);
    assert!(ok && said.contains("re-sealed 2 corp(s)"), "{said}");
    let new_key = std::fs::read_to_string(&file).expect("the new key replaces the file");
    assert_ne!(new_key, old_key);
    let kept: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    let old_file = kept.iter().find(|p| p.to_string_lossy().contains("master.key.old-")).expect("the old key is kept");
    assert_eq!(std::fs::read_to_string(old_file).unwrap(), old_key);
    assert_ne!(raw(ids[0]).await, before, "re-sealed");

    // Every corp reads with the new key, and not with the old one.
    let list = with_key(&["corp", "list"]);
    assert!(list.contains("wwROTA") && list.contains("wwROTB") && list.contains("app…123"), "{list}");
    let old_path = old_file.to_str().unwrap();
    let (ok, _, err) = koi_env(&["corp", "list", "--database-url", &db.url, "--master-key-file", old_path], &[]);
    assert!(!ok && err.contains("sealed with master key"), "the old key fails clearly: {err}");

    // koi serve reads them too: the settings page shows the masked secret.
    let server =
        Server::start(&["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url, "--master-key-file", key_file]);
    let c = login(&server, "rot-owner", PASSWORD).await;
    let html = c.get(server.url("/console/settings")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("app…123"), "the console reads the re-sealed secret");
    drop(server);

    // With the key in KOI_MASTER_KEY, rotation prints the new key to set.
    let env_key = new_key.trim();
    let args = ["corp", "rotate-key", "--database-url", &db.url, "--master-key-file", "/nonexistent/master.key"];
    let (ok, printed, said) = koi_env(&args, &[("KOI_MASTER_KEY", env_key)]);
    assert!(ok && said.contains("set KOI_MASTER_KEY"), "{said}");
    assert_eq!(printed.len(), 44, "the new key, in base64: {printed}");
    let list_args = ["corp", "list", "--database-url", &db.url, "--master-key-file", "/nonexistent/master.key"];
    let (ok, list, _) = koi_env(&list_args, &[("KOI_MASTER_KEY", &printed)]);
    assert!(ok && list.contains("wwROTB"), "{list}");
    let (ok, _, err) = koi_env(&list_args, &[("KOI_MASTER_KEY", env_key)]);
    assert!(!ok && err.contains("sealed with master key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
