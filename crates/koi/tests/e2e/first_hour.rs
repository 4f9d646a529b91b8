//! An operator's first hour in `koi demo`, in a real browser: sign in, read
//! the home page's numbers, make a channel code with an auto-tag picked by
//! name, watch a customer arrive through it (the simulator scans), find
//! them by name and by the remark their guide notes in WeCom, tag them,
//! build a segment and export it. Every page it opens must speak Chinese
//! only (a short list of product words aside), show names instead of ids
//! (`et…`, `wm…`, `#12`), and answer below 500; in English, no page may
//! show an untranslated key.

use crate::api::wait_for;
use crate::support::{login, Server};
use crate::webdriver::Browser;
use serde_json::{json, Value};

/// Latin words a Chinese page may show: product and format names, the
/// segment syntax's operators, the language switch, and demo tag names.
const ALLOWED_WORDS: [&str; 15] =
    ["WeCom", "API", "CSV", "QR", "SOP", "RFM", "ID", "PNG", "SVG", "AND", "OR", "NOT", "English", "VIP", "koi"];

/// The visible text of the page: text nodes outside code (labelled
/// identifiers and expressions), scripts, hidden parts and the brand name
/// the operator gave (data, not the console's words), plus
/// placeholders other than those of inputs for ids and expressions
/// (`spellcheck=false`).
const VISIBLE_TEXT: &str = "
    const skip = 'code, pre, script, style, svg, template, [hidden], .op, #corp-name';
    const out = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walk.nextNode()) {
        const n = walk.currentNode, p = n.parentElement;
        if (!p || p.closest(skip)) continue;
        const s = n.textContent.trim();
        if (s) out.push(s);
    }
    document.querySelectorAll('[placeholder]:not([spellcheck=false])').forEach(e => out.push(e.getAttribute('placeholder')));
    return out.join('\\n');";

/// What is wrong with a page's visible text: raw ids, `#n` labels, and
/// English words.
fn faults(text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let token_chars = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '#';
    for token in text.split(|c: char| !token_chars(c)).filter(|t| !t.is_empty()) {
        let id_like = (token.starts_with("et") || token.starts_with("wm"))
            && token.len() >= 8
            && token.chars().any(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if id_like {
            bad.push(format!("raw id {token:?}"));
        }
        if token.starts_with('#') && token[1..].chars().next().is_some_and(|c| c.is_ascii_digit()) {
            bad.push(format!("number label {token:?}"));
        }
    }
    for word in text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 2) {
        if !ALLOWED_WORDS.contains(&word) {
            bad.push(format!("English word {word:?}"));
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

/// Checks the page the browser is on: below 500, no error page, and
/// nothing but Chinese and names.
async fn check(b: &Browser, seen: &mut Vec<String>) {
    let url = b.url().await;
    let status =
        b.run("const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;").await;
    assert!(status.as_u64().unwrap_or(0) < 500, "{url} answered {status}");
    assert!(!b.exists("#error-code").await, "{url} shows an error page");
    let text = b.run(VISIBLE_TEXT).await.as_str().unwrap_or_default().to_string();
    let bad = faults(&text);
    assert!(bad.is_empty(), "{url}: {bad:?}\n--- visible text ---\n{text}");
    seen.push(url);
}

#[test]
fn the_checker_catches_what_the_issue_named() {
    assert!(faults("标签 VIP · 渠道活码 “门口海报” · WeCom").is_empty());
    let bad = faults("引流 Attract · tag:etKCBt12ab · 规则 #6 · wmdemo00012 · orders 6 ≥ 3");
    for want in ["English word \"Attract\"", "raw id \"etKCBt12ab\"", "number label \"#6\"", "raw id \"wmdemo00012\""] {
        assert!(bad.iter().any(|b| b == want), "{want} in {bad:?}");
    }
    assert!(bad.iter().any(|b| b == "English word \"orders\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_first_hour_in_the_demo() {
    let data = std::env::temp_dir().join(format!("koi-e2e-first-hour-{}", std::process::id()));
    let data_arg = data.display().to_string();
    let (demo, sim) =
        Server::start_demo(&["--listen", "127.0.0.1:0", "--data-dir", &data_arg, "--password", "demo-pass-1"]);
    let http = reqwest::Client::new();
    let b = Browser::start().await;
    let mut seen = Vec::new();

    // Sign in; the home page has the business numbers.
    b.goto(&demo.url("/console/login")).await;
    check(&b, &mut seen).await;
    b.type_into("#username", "admin").await;
    b.type_into("#password", "demo-pass-1").await;
    b.click("#sign-in").await;
    let total: i64 = b.text("#total-customers").await.parse().expect("a number of customers");
    assert!(total >= 2000, "the demo's history counts: {total}");
    for id in ["#today-adds", "#today-net", "#today-losses"] {
        b.text(id).await.parse::<i64>().unwrap_or_else(|_| panic!("{id} is a number"));
    }
    assert!(b.text("#store-ranking").await.contains("店"), "stores by name");
    check(&b, &mut seen).await;

    // The customer list counts them all; a big spender's profile lists
    // their orders, with phone and remark from WeCom.
    b.goto(&demo.url("/console/customers")).await;
    assert_eq!(b.text("#customer-total b").await, total.to_string());
    check(&b, &mut seen).await;
    b.goto(&demo.url("/console/customers?stage=super")).await;
    check(&b, &mut seen).await;
    b.click("#customers tbody a").await;
    b.wait_text("#order-history", "下单").await;
    assert!(b.exists("#order-history tbody tr[data-kind=placed]").await, "the order history");
    assert!(b.text("#phone").await.starts_with("13"), "the phone the guide noted");
    check(&b, &mut seen).await;

    // A channel code for a pop-up, its auto-tag picked by name.
    let ways_before: Vec<Value> =
        http.get(format!("{sim}/sim/contact_ways")).send().await.expect("ways").json().await.expect("json");
    b.goto(&demo.url("/console/channel-codes")).await;
    check(&b, &mut seen).await;
    b.click("details.card summary").await;
    b.type_into("#new-code input[name=name]", "国庆快闪码").await;
    b.click("#new-code select[name=store_id] option:nth-child(2)").await;
    b.click("#new-code input[name=pool]").await;
    let tag_name = b.text("#auto-tags label.check").await;
    assert!(!tag_name.trim().is_empty() && !tag_name.contains("et"), "tags by name: {tag_name:?}");
    b.click("#auto-tags input[name=auto_tag]").await;
    b.click("#new-code button[type=submit]").await;
    b.wait_url("ok=created").await;
    check(&b, &mut seen).await;
    // Its editor shows the picked tag ticked, by name.
    b.click("#edit-code-link").await;
    b.wait_url("/edit").await;
    assert!(b.exists("#auto-tags input[name=auto_tag]:checked").await, "the auto-tag stays picked");
    check(&b, &mut seen).await;

    // A customer scans it in the simulator and arrives.
    let ways: Vec<Value> =
        http.get(format!("{sim}/sim/contact_ways")).send().await.expect("ways").json().await.expect("json");
    let new_way = ways.iter().find(|w| !ways_before.contains(w)).expect("the code's contact way in WeCom");
    let config_id = new_way["config_id"].as_str().expect("config_id").to_string();
    let r = http
        .post(format!("{sim}/sim/scan"))
        .json(&json!({"config_id": config_id, "customer": {"name": "林小满"}}))
        .send()
        .await
        .expect("scan");
    assert!(r.status().is_success(), "scan");
    let scan: Value = r.json().await.expect("scan json");

    // Found by name in the list, with the code's tag.
    let search = demo.url(&format!("/console/customers?q={}", urlencode("林小满")));
    wait_for(|| async {
        b.goto(&search).await;
        b.text("#customers tbody").await.contains("林小满").then_some(())
    })
    .await;
    assert_eq!(b.text("#customer-total b").await, "1");
    check(&b, &mut seen).await;
    b.click("#customers tbody a").await;
    b.wait_text("h1", "林小满").await;
    wait_for(|| async {
        b.goto(&b.url().await).await;
        b.text("#customer-tags").await.contains(tag_name.trim()).then_some(())
    })
    .await;
    check(&b, &mut seen).await;
    let profile = b.url().await;

    // Her guide notes a remark in WeCom; koi reads it, and finds her by it.
    let edit = json!({"userid": scan["userid"], "external_userid": scan["external_userid"], "remark": "国庆快闪-小满"});
    let r = http.post(format!("{sim}/sim/staff/edit_customer")).json(&edit).send().await.expect("edit");
    assert!(r.status().is_success(), "edit in WeCom");
    let by_remark = demo.url(&format!("/console/customers?q={}", urlencode("快闪-小")));
    wait_for(|| async {
        b.goto(&by_remark).await;
        b.text("#customers tbody").await.contains("国庆快闪-小满").then_some(())
    })
    .await;
    check(&b, &mut seen).await;
    b.goto(&profile).await;
    assert_eq!(b.text("#remark").await, "国庆快闪-小满");

    // Tagged by hand.
    b.click("#add-tags-card summary").await;
    let hand_tag = b.text("#add-tags label.check").await.trim().to_string();
    b.click("#add-tags input[name=add]").await;
    b.click("#add-tags button[type=submit]").await;
    b.wait_text("#customer-tags", &hand_tag).await;
    check(&b, &mut seen).await;
    assert!(b.text("#timeline").await.contains("打上标签"));

    // The tags page names the rules' codes and tags.
    b.goto(&demo.url("/console/tags")).await;
    check(&b, &mut seen).await;

    // A segment of the hand tag, by name, saved and exported.
    b.goto(&demo.url("/console/segments/new")).await;
    check(&b, &mut seen).await;
    b.type_into("#expr", &format!("tag:\"{hand_tag}\"")).await;
    wait_for(|| async { b.text("#segment-count").await.parse::<u64>().ok().filter(|n| *n >= 1) }).await;
    b.type_into("#segment-form input[name=name]", "国庆快闪客").await;
    b.click("#save-segment").await;
    b.wait_url("ok=saved").await;
    check(&b, &mut seen).await;
    b.goto(&demo.url("/console/segments")).await;
    let list = b.text("#segments").await;
    assert!(list.contains("国庆快闪客") && !list.contains("tag:et"), "tags by name in the list: {list}");
    check(&b, &mut seen).await;
    let export = b
        .run("return Array.from(document.querySelectorAll('#segments a[href$=\"export.csv\"]')).map(a => a.getAttribute('href')).pop();")
        .await;
    let export = export.as_str().expect("an export link").to_string();
    let c = login(&demo, "admin", "demo-pass-1").await;
    let r = c.get(demo.url(&export)).send().await.expect("export");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("csv").contains("林小满"), "the new customer is in the export");

    // The same pages in English: no key left untranslated, no 5xx.
    b.goto(&demo.url("/console")).await;
    b.click("#lang-switch").await;
    b.wait_text("nav", "Customers").await;
    for url in &seen {
        if url.contains("/login") {
            continue;
        }
        b.goto(url).await;
        let status = b.run("return performance.getEntriesByType('navigation')[0].responseStatus;").await;
        assert!(status.as_u64().unwrap_or(0) < 500, "{url} in English answered {status}");
        let text = b.run(VISIBLE_TEXT).await.as_str().unwrap_or_default().to_string();
        let keys: Vec<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|t| t.contains('_') && t.chars().any(|c| c.is_ascii_lowercase()))
            .collect();
        assert!(keys.is_empty(), "{url} in English shows keys {keys:?}\n{text}");
    }

    // Fetched again outside the browser: none answers 5xx.
    for url in &seen {
        let r = c.get(url).send().await.expect("page");
        assert!(r.status().as_u16() < 500, "{url} answered {}", r.status());
    }
    assert!(seen.contains(&profile));
    drop(b);
    drop(demo);
    let _ = std::fs::remove_dir_all(&data);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
