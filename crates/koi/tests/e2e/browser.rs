//! A person in a real browser: `koi demo` in headless chromium, signing in,
//! opening every console page, adding and importing stores, switching to
//! English, and using the console at phone size.

use crate::api::wait_for;
use crate::support::Server;
use crate::webdriver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_console_in_a_browser() {
    let data = std::env::temp_dir().join(format!("koi-e2e-demo-{}", std::process::id()));
    let data_arg = data.display().to_string();
    let demo =
        Server::start(&["demo", "--listen", "127.0.0.1:0", "--data-dir", &data_arg, "--password", "demo-pass-1"]);
    let b = Browser::start().await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));

    // Signing in lands on the overview with the demo brand's numbers.
    b.goto(&demo.url("/console")).await;
    b.wait_url("/console/login").await;
    b.type_into("#username", "admin").await;
    b.type_into("#password", "wrong-password").await;
    b.click("#sign-in").await;
    assert!(b.wait_text("#login-error", "错误").await.contains("用户名或密码错误"));
    b.type_into("#username", "admin").await;
    b.type_into("#password", "demo-pass-1").await;
    b.click("#sign-in").await;
    assert_eq!(b.text("#store-count").await, "2");
    assert_eq!(b.text("#staff-count").await, "10");
    assert!(b.text("#corp-name").await.contains("悦步女鞋"));

    // Every page opens, with its own content and no error.
    for (path, marker, expect) in [
        ("/console/stores", "#stores", "静安嘉里中心店"),
        ("/console/staff", "#staff", "王芳"),
        ("/console/users", "#users", "jingan"),
        ("/console/api-keys", "#api-keys", ""),
        ("/console/jobs", "#jobs", ""),
        ("/console/settings", "#callback-url", "/wecom/callback/wwkoidemo0000001"),
        ("/console/groups", "#group-metrics", "社群数据"),
    ] {
        b.goto(&demo.url(path)).await;
        assert!(!b.exists("#error-code").await, "{path} shows an error");
        assert!(b.text(marker).await.contains(expect), "{path} lacks {expect}");
    }
    // The demo pays rewards from the simulator's merchant: its section shows
    // the merchant and that the key is set, never the key.
    b.goto(&demo.url("/console/settings")).await;
    let mch = b.run("return document.querySelector('#pay-settings input[name=mch_id]').value").await;
    assert_eq!(mch, "1900000109", "{mch}");
    let key = b.run("return document.querySelector('#pay-settings input[name=api_key]').value").await;
    assert_eq!(key, "", "the key is write-only");
    assert!(b.exists("#pay-settings input[name=pay_enabled]:checked").await);
    // The group metrics are drawn on the server: the browser shows the SVG.
    b.goto(&demo.url("/console/groups?by=store")).await;
    assert!(b.exists("#metrics-flow svg polyline.members").await && b.exists("#metrics-talk svg").await);

    // Add a store through the form.
    b.goto(&demo.url("/console/stores")).await;
    b.click("details summary").await;
    b.type_into("#new-store input[name=code]", "SH-LJZ").await;
    b.type_into("#new-store input[name=name]", "陆家嘴店").await;
    b.type_into("#new-store input[name=lat]", "31.2397").await;
    b.type_into("#new-store input[name=lng]", "121.4998").await;
    b.click("#new-store button[type=submit]").await;
    b.wait_text("#stores", "陆家嘴店").await;

    // A spreadsheet with a bad latitude is refused whole, with the line.
    let csv = data.join("stores.csv");
    std::fs::write(&csv, "code,name,lat,lng\nSH-NEW,新店,31.1,121.1\nSH-BAD,坏店,95,121\n").expect("write csv");
    let file_input = "#import-stores input[type=file]";
    b.click("details:nth-of-type(2) summary").await;
    b.send_keys(file_input, &csv.display().to_string()).await;
    b.click("#import-stores button[type=submit]").await;
    let row = b.text("#import-errors tbody tr").await;
    assert!(row.starts_with("3 lat out_of_range"), "line 3, the latitude: {row}");
    assert!(!b.text("#stores").await.contains("新店"), "nothing half-imported");

    // The job queue runs a self-test job.
    b.goto(&demo.url("/console/jobs")).await;
    b.click("#selftest button[value='0']").await;
    wait_for(|| async {
        b.goto(&demo.url("/console/jobs?state=done")).await;
        // Other work (the demo's live traffic) finishes jobs too; look for this one.
        b.text("#jobs").await.contains("koi.selftest").then_some(())
    })
    .await;

    // English on request.
    b.click("#lang-switch").await;
    b.wait_text("nav", "Stores").await;
    b.screenshot(&shots.join("console-en.png")).await;

    // At phone size the page fits the screen; wide tables scroll inside.
    b.resize(390, 844).await;
    b.goto(&demo.url("/console/staff")).await;
    assert!(b.overflow_x().await <= 0, "the staff page is wider than a phone");
    assert!(b.text("nav").await.contains("Stores"));
    b.screenshot(&shots.join("console-phone.png")).await;

    b.click("#logout").await;
    b.wait_url("/console/login").await;
    drop(b);
    drop(demo);
    let _ = std::fs::remove_dir_all(&data);
}
