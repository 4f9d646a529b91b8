//! A minimal W3C WebDriver client over HTTP, enough to drive Debian's
//! chromium through chromedriver: navigate, find, type, click, read.

use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts chromedriver on a free port and a headless chromium session.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        // Its own process group, so dropping the browser also ends the
        // chromium processes chromedriver started, even after a panic.
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": binary,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1280,900"]}}}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        let b = Browser { http, base, session, driver };
        // Finding waits up to 5 s for an element, as a person would for a page.
        b.call(reqwest::Method::POST, "/timeouts", json!({"implicit": 5000, "pageLoad": 20000})).await;
        b
    }

    async fn try_call(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET {
            req = req.json(body);
        }
        let v: Value = req.send().await.expect("webdriver call").json().await.expect("webdriver json");
        match v["value"].get("error").and_then(Value::as_str) {
            Some(err) => Err(format!("{err}: {}", v["value"]["message"])),
            None => Ok(v["value"].clone()),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.try_call(method, path, &body).await.unwrap_or_else(|e| panic!("webdriver {path}: {e}"))
    }

    /// Finds `css` and acts on it, finding it again if the page was replaced
    /// in between (a form post that navigates).
    async fn on_element(&self, css: &str, method: reqwest::Method, action: &str, body: Value) -> Value {
        for _ in 0..50 {
            let el = self.find(css).await;
            match self.try_call(method.clone(), &format!("/element/{el}{action}"), &body).await {
                Ok(v) => return v,
                Err(e) if e.starts_with("stale element reference") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("webdriver {css}{action}: {e}"),
            }
        }
        panic!("{css} kept going stale");
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self.call(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_string()
    }

    /// Whether `css` is on the page now (no implicit wait, unlike `find`).
    pub async fn exists(&self, css: &str) -> bool {
        let script = json!({"script": "return document.querySelector(arguments[0]) !== null;", "args": [css]});
        self.call(reqwest::Method::POST, "/execute/sync", script).await.as_bool().unwrap_or(false)
    }

    /// Replaces an input's text.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, reqwest::Method::POST, "/clear", json!({})).await;
        self.send_keys(css, text).await;
    }

    /// Types without clearing first (file inputs take a path this way).
    pub async fn send_keys(&self, css: &str, text: &str) {
        self.on_element(css, reqwest::Method::POST, "/value", json!({ "text": text })).await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/click"), json!({})).await;
    }

    /// The text of `css`, found again if a script replaced it meanwhile
    /// (the segment builder redraws its marks as the operator types).
    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, reqwest::Method::GET, "/text", json!({})).await.as_str().unwrap_or("").to_string()
    }

    /// Waits (5 s at most) until the text of `css` contains `needle`: after
    /// a click that navigates, the old page may still be showing.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..50 {
            last = self.text(css).await;
            if last.contains(needle) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {needle:?}; last: {last:?}");
    }

    pub async fn wait_url(&self, needle: &str) {
        for _ in 0..50 {
            if self.url().await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached a URL with {needle:?}; at {}", self.url().await);
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", json!({})).await.as_str().unwrap_or("").to_string()
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
    }

    /// The page's horizontal overflow: how far the document is wider than the window.
    pub async fn overflow_x(&self) -> i64 {
        let v = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": "return document.documentElement.scrollWidth - window.innerWidth;", "args": []}),
            )
            .await;
        v.as_i64().unwrap_or(0)
    }

    /// The elements that reach past the window's right edge, for a message
    /// when a page is wider than a phone.
    pub async fn too_wide(&self) -> String {
        let script = "return Array.from(document.querySelectorAll('body *'))\
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll, nav'))\
            .map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')).join(' ');";
        let v = self.call(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": []})).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// Drags `css` by (`dx`, `dy`) CSS pixels with the mouse, as a person
    /// would: press on its middle, move in steps, release.
    pub async fn drag(&self, css: &str, dx: i64, dy: i64) {
        let el = self.find(css).await;
        let mouse = json!([
            {"type": "pointerMove", "duration": 0, "origin": {ELEMENT: el}, "x": 0, "y": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "duration": 100, "origin": "pointer", "x": dx / 2, "y": dy / 2},
            {"type": "pointerMove", "duration": 100, "origin": "pointer", "x": dx - dx / 2, "y": dy - dy / 2},
            {"type": "pointerUp", "button": 0}
        ]);
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": mouse}]});
        self.call(reqwest::Method::POST, "/actions", actions).await;
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let v = self.call(reqwest::Method::GET, "/screenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or("")).expect("png");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-9", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
