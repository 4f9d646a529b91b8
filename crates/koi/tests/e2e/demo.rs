//! `koi demo`'s data as an operator first meets it: a code's page tells a
//! consistent story (the code existed before its adds) and its losses and
//! returns are not always zero.

use crate::support::{login, Server};

/// The text of the element with `id` on a page (no nested tags).
fn by_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("#{id} on the page")) + id.len() + 6;
    &html[at..at + html[at..].find('<').expect("the element ends")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_codes_have_a_past_with_losses_and_returns() {
    let data = std::env::temp_dir().join(format!("koi-e2e-demo-data-{}", std::process::id()));
    let data_arg = data.display().to_string();
    let demo =
        Server::start(&["demo", "--listen", "127.0.0.1:0", "--data-dir", &data_arg, "--password", "demo-pass-2"]);
    let console = login(&demo, "admin", "demo-pass-2").await;
    for code in [1, 2] {
        let page = console
            .get(demo.url(&format!("/console/channel-codes/{code}")))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("body");
        // The oldest day with adds is not before the code was made.
        let created = &by_id(&page, "code-created")[..10];
        let table = &page[page.find("id=\"stats-days\"").expect("the days")..];
        let table = &table[..table.find("</table>").expect("the table ends")];
        let days: Vec<&str> = table.split("<tr><td>").skip(1).map(|r| &r[..10]).collect();
        assert!(days.len() > 10, "code {code}: 30 days of adds: {days:?}");
        assert!(days.iter().all(|d| *d >= created), "code {code} made {created}, adds on {days:?}");
        let n = |id: &str| by_id(&page, id).parse::<i64>().unwrap_or_else(|_| panic!("{id} is a number"));
        assert!(n("total-deletions") > 0, "code {code}: some customers left");
        assert!(n("total-returning") > 0, "code {code}: some came back");
        assert!(page.contains("<div class=\"tile warn\"><b id=\"total-deletions\">"), "losses in red");
    }
    drop(demo);
    let _ = std::fs::remove_dir_all(&data);
}
