//! The end-to-end fixture: the real `koi` binary on a scratch database,
//! driven over HTTP as a browser or an integration would.

use koi_store::scratch::ScratchDb;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KOI: &str = env!("CARGO_BIN_EXE_koi");
pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
pub const PASSWORD: &str = "e2e-password-1";

/// The load tests (thousands of callbacks, some within WeCom's 20 s welcome
/// window) take this, so on a 2-core machine no two of them run at once and
/// each one's timing holds as it does alone.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `koi ARGS` to completion and returns its stdout; panics with stderr on failure.
pub fn koi(args: &[&str]) -> String {
    let out = Command::new(KOI).args(args).env("RUST_LOG", "warn").output().expect("run koi");
    assert!(out.status.success(), "koi {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 stdout").trim().to_string()
}

/// Runs `koi ARGS` expecting failure; returns stderr.
pub fn koi_fails(args: &[&str]) -> String {
    let out = Command::new(KOI).args(args).env("RUST_LOG", "warn").output().expect("run koi");
    assert!(!out.status.success(), "koi {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A running `koi` server process; killed when dropped.
pub struct Server {
    pub base: String,
    child: Child,
}

impl Server {
    /// Starts `koi ARGS`, which must print `http://ADDR` on its first
    /// stdout lines, and waits until `/healthz` answers.
    pub fn start(args: &[&str]) -> Server {
        Server::start_checking(args, "/healthz")
    }

    /// Like [`Server::start`], waiting for `health` to answer 200.
    pub fn start_checking(args: &[&str], health: &str) -> Server {
        let mut child = Command::new(KOI)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn koi");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("koi exited before printing its address").expect("read stdout");
            if let Some(i) = line.find("http://") {
                let url = line[i..].split_whitespace().next().expect("url");
                break url.trim_end_matches("/console").to_string();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let server = Server { base, child };
        server.wait_healthy(health);
        server
    }

    /// Starts `koi demo ARGS` and returns it with the simulator's base URL
    /// (the `WeCom:` line it prints).
    pub fn start_demo(args: &[&str]) -> (Server, String) {
        let mut child = Command::new(KOI)
            .arg("demo")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn koi demo");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut base, mut sim) = (None, None);
        while base.is_none() || sim.is_none() {
            let line = lines.next().expect("koi demo exited before printing its addresses").expect("read stdout");
            let url = line.find("http://").map(|i| line[i..].split_whitespace().next().expect("url").to_string());
            match url {
                Some(u) if line.contains("WeCom:") => sim = Some(u),
                Some(u) if base.is_none() => base = Some(u.trim_end_matches("/console").to_string()),
                _ => {}
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let server = Server { base: base.expect("console url"), child };
        server.wait_healthy("/healthz");
        (server, sim.expect("simulator url"))
    }

    pub fn serve(url: &str) -> Server {
        Server::start(&["serve", "--listen", "127.0.0.1:0", "--database-url", url])
    }

    fn wait_healthy(&self, health: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}{health}", self.base);
        while Instant::now() < deadline {
            if probe::get_ok(&url).unwrap_or(false) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("koi at {} never became healthy", self.base);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking GET for health polling, usable before any runtime exists.
mod probe {
    pub fn get_ok(url: &str) -> std::io::Result<bool> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf.starts_with("HTTP/1.1 200"))
    }
}

/// A corp made with `koi corp add` and an owner made with `koi user add`.
pub struct Tenant {
    pub id: i64,
    pub owner: String,
}

pub fn tenant(db_url: &str, wecom_id: &str) -> Tenant {
    let id: i64 = koi(&[
        "corp",
        "add",
        "--database-url",
        db_url,
        "--name",
        &format!("品牌 {wecom_id}"),
        "--corp-id",
        wecom_id,
        "--secret",
        "app-secret-value-123",
        "--token",
        "QDG6eK",
        "--aes-key",
        AES_KEY,
    ])
    .parse()
    .expect("corp id");
    let owner = format!("owner-{}", wecom_id.to_lowercase());
    koi(&[
        "user",
        "add",
        "--database-url",
        db_url,
        "--corp",
        &id.to_string(),
        "--username",
        &owner,
        "--role",
        "owner",
        "--password",
        PASSWORD,
    ]);
    Tenant { id, owner }
}

pub async fn scratch(backend: &str) -> ScratchDb {
    ScratchDb::of(backend).await.unwrap_or_else(|e| panic!("{backend} scratch database: {e}"))
}

/// An HTTP client with its own cookie jar, as one browser would be.
pub fn browser_like() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Logs in through the console form; returns the client holding the session.
pub async fn login(server: &Server, username: &str, password: &str) -> reqwest::Client {
    let c = browser_like();
    let r = c
        .post(server.url("/console/login"))
        .form(&[("username", username), ("password", password), ("next", "/console")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "login of {username} should redirect");
    c
}

/// The CSRF token embedded in a console page.
pub async fn csrf(c: &reqwest::Client, server: &Server, page: &str) -> String {
    let html = c.get(server.url(page)).send().await.expect("page").text().await.expect("body");
    let at = html.find("name=\"_csrf\" value=\"").expect("page has a csrf field") + 20;
    html[at..at + 64].to_string()
}

/// Makes an API key through the console, as an owner would.
pub async fn api_key(server: &Server, owner: &str) -> String {
    api_key_as(server, owner, "hq_operator").await
}

/// An API key of `role`, made in the console by the owner.
pub async fn api_key_as(server: &Server, owner: &str, role: &str) -> String {
    let c = login(server, owner, PASSWORD).await;
    let token = csrf(&c, server, "/console/api-keys").await;
    let html = c
        .post(server.url("/console/api-keys"))
        .form(&[("_csrf", token.as_str()), ("name", "e2e"), ("role", role)])
        .send()
        .await
        .expect("create key")
        .text()
        .await
        .expect("body");
    let at = html.find("id=\"new-key\">").expect("the new key is shown once") + 13;
    html[at..].split('<').next().expect("key").to_string()
}
