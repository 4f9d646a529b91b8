//! Orders end to end, on both databases, through the real `koi` binary and
//! the simulator as WeCom: an order that arrives before its customer is
//! matched when the customer adds; the same order posted three ways (signed
//! webhook, API, CSV) counts once; forged and stale webhook posts are 401 and
//! change nothing; refunds take the order off the customer's count and stage
//! back; the attribution rules decide as configured.

use crate::acquisition::Acq;
use crate::api::wait_for;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_count_once_and_find_their_customer_sqlite() {
    orders_count_once_and_find_their_customer("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_count_once_and_find_their_customer_postgres() {
    orders_count_once_and_find_their_customer("postgres").await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

impl Acq {
    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(self.server.url(path)).bearer_auth(&self.key).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        let r = self.http.put(self.server.url(path)).bearer_auth(&self.key).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// A single-member channel code of `staff_id`; its contact way's config id.
    async fn single_code(&self, name: &str, staff_id: i64) -> String {
        let code = json!({"name": name, "channel_type": "store_poster", "store_id": self.store_id,
            "kind": "single", "pool": [{"staff_id": staff_id}]});
        let c = self.post("/api/v1/channel-codes", code).await;
        c["config_id"].as_str().expect("a contact way").to_string()
    }

    async fn webhook(&self, key: &str, signature: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.server.url(&format!("/webhooks/orders/{key}")))
            .header("x-koi-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn profile(&self, customer_id: i64) -> Value {
        self.get(&format!("/api/v1/customers/{customer_id}/profile")).await
    }

    async fn order_total(&self) -> i64 {
        self.get("/api/v1/orders?limit=1").await["total"].as_i64().unwrap()
    }
}

async fn orders_count_once_and_find_their_customer(backend: &str) {
    let acq = Acq::start(backend).await;
    let (wang, li) = (acq.staff[0], acq.staff[1]);
    let code_wang = acq.single_code("王芳的码", wang).await;
    let code_li = acq.single_code("李娜的码", li).await;
    let t0 = now_ms() - 3_600_000;

    // An order before its customer: kept, waiting, nobody's yet.
    let early = json!({"shop_order_id": "SO-EARLY", "ordered_at": t0, "amount_fen": 5000, "paid_fen": 4500,
        "items": [{"sku": "A1", "name": "苹果礼盒", "qty": 1, "price_fen": 5000}],
        "customer": {"unionid": "oUNION-ZHANG", "member_id": "M-1001"}});
    let out = acq.post("/api/v1/orders", early).await;
    assert_eq!((out["created"].as_bool(), out["customer_id"].as_i64()), (Some(true), None), "{out}");
    let early_id = out["order_id"].as_i64().unwrap();

    // The customer adds through the simulator (scans 王芳's code, then 李娜's):
    // the waiting order finds them by unionid.
    acq.scan(&code_wang, json!({"name": "张三", "unionid": "oUNION-ZHANG"})).await;
    let order = wait_for(|| async {
        let o = acq.get(&format!("/api/v1/orders/{early_id}")).await;
        o["order"]["customer_id"].as_i64().is_some().then_some(o)
    })
    .await;
    let customer_id = order["order"]["customer_id"].as_i64().unwrap();
    assert_eq!(order["order"]["matched_by"], "unionid");
    assert_eq!(order["order"]["first_order"], true);
    assert_eq!(order["items"][0]["sku"], "A1");
    let p = acq.profile(customer_id).await;
    assert_eq!((p["orders"].as_i64(), p["spent_fen"].as_i64()), (Some(1), Some(4500)), "{p}");
    assert_eq!(p["stage"], "converted");
    let external =
        acq.get(&format!("/api/v1/customers/{customer_id}")).await["external_userid"].as_str().unwrap().to_string();
    acq.scan(&code_li, json!({"external_userid": external})).await;
    wait_for(|| async {
        let c = acq.get(&format!("/api/v1/customers/{customer_id}")).await;
        (c["follows"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;

    // An integration: the secret is shown once.
    let created = acq.post("/api/v1/order-integrations", json!({"name": "有赞商城"})).await;
    let (key, secret) =
        (created["integration"]["key"].as_str().unwrap().to_string(), created["secret"].as_str().unwrap().to_string());
    let listed = acq.get("/api/v1/order-integrations").await;
    assert!(listed.to_string().find(&secret).is_none(), "the secret is not listed");
    let dup = acq.http.post(acq.server.url("/api/v1/order-integrations")).bearer_auth(&acq.key);
    let dup = dup.json(&json!({"name": "有赞商城"})).send().await.unwrap();
    assert_eq!(dup.status(), 409);

    // The same order three ways: webhook (member id only, learnt from the
    // first order), API, CSV. It counts once.
    let ordered_at = t0 + 60_000;
    let order = json!({"shop_order_id": "SO-3X", "ordered_at": ordered_at, "amount_fen": 19900, "paid_fen": 19900,
        "store_code": "SH-JA", "customer": {"member_id": "M-1001"}});
    let body = json!({"event": "order", "order": order}).to_string();
    let now_s = now_ms() / 1000;
    let (status, out) = acq.webhook(&key, &koi_engine::orders::sign(&secret, now_s, body.as_bytes()), &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!((out["created"].as_bool(), out["customer_id"].as_i64()), (Some(true), Some(customer_id)), "{out}");
    assert_eq!(out["matched_by"], "member_id");
    let again = acq.post("/api/v1/orders", order.clone()).await;
    assert_eq!(again["created"], false);
    let csv = format!(
        "订单号,下单时间,金额,实付,会员号\nSO-3X,{ordered_at},199.00,199.00,M-1001\nSO-CSV,{},9.90,9.90,M-1001\n",
        ordered_at + 1
    );
    let r =
        acq.http.post(acq.server.url("/api/v1/orders/import")).bearer_auth(&acq.key).body(csv).send().await.unwrap();
    let report: Value = r.json().await.unwrap();
    assert_eq!((report["created"].as_i64(), report["updated"].as_i64()), (Some(1), Some(1)), "{report}");
    let p = acq.profile(customer_id).await;
    assert_eq!((p["orders"].as_i64(), p["spent_fen"].as_i64()), (Some(3), Some(4500 + 19900 + 990)), "{p}");
    let one = acq.get("/api/v1/orders?shop_order_id=SO-3X").await;
    assert_eq!(one["total"], 1);

    // A bad CSV row rejects the whole file with its line.
    let bad = "订单号,下单时间,金额,实付\nSO-B1,2024-01-01 10:00,1,1\nSO-B2,昨天,1,1\n";
    let r =
        acq.http.post(acq.server.url("/api/v1/orders/import")).bearer_auth(&acq.key).body(bad).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["rows"][0]["line"].as_i64()),
        (Some("import_rejected"), Some(3))
    );
    assert_eq!(acq.get("/api/v1/orders?shop_order_id=SO-B1").await["total"], 0, "nothing imported");

    // Forged and stale posts: 401 with a stable code, nothing changed.
    let total = acq.order_total().await;
    let forged_body = json!({"event": "order", "order": {"shop_order_id": "SO-FORGED", "ordered_at": ordered_at,
        "amount_fen": 100, "paid_fen": 100, "customer": {"member_id": "M-1001"}}})
    .to_string();
    let forged = koi_engine::orders::sign("not-the-secret", now_s, forged_body.as_bytes());
    let (status, e) = acq.webhook(&key, &forged, &forged_body).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("bad_signature")));
    let stale = koi_engine::orders::sign(&secret, now_s - 600, forged_body.as_bytes());
    let (status, e) = acq.webhook(&key, &stale, &forged_body).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("stale_timestamp")));
    let (status, e) = acq.webhook(&key, "", &forged_body).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("bad_signature")));
    let tampered = body.replace("19900", "1");
    let (status, _) = acq.webhook(&key, &koi_engine::orders::sign(&secret, now_s, body.as_bytes()), &tampered).await;
    assert_eq!(status, 401);
    let (status, e) = acq.webhook("nosuchkey", &forged, &forged_body).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("unknown_integration")));
    assert_eq!(acq.order_total().await, total, "nothing was written");
    assert_eq!(acq.profile(customer_id).await["orders"], 3);

    // Refunds: partial through the webhook, the rest through the API; the
    // whole refund takes the order off the count. Never more than paid.
    let refund =
        json!({"event": "refund", "shop_order_id": "SO-3X", "refund": {"refund_id": "R1", "amount_fen": 9900}})
            .to_string();
    let (status, out) = acq.webhook(&key, &koi_engine::orders::sign(&secret, now_s, refund.as_bytes()), &refund).await;
    assert_eq!((status, out["status"].as_str()), (200, Some("part_refunded")), "{out}");
    let so3x = acq.get("/api/v1/orders?shop_order_id=SO-3X").await["orders"][0]["id"].as_i64().unwrap();
    let r = acq.http.post(acq.server.url(&format!("/api/v1/orders/{so3x}/refunds"))).bearer_auth(&acq.key);
    let r = r.json(&json!({"refund_id": "R2", "amount_fen": 10001})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["fields"][0]["code"], "refund_exceeds_paid");
    let out = acq.post(&format!("/api/v1/orders/{so3x}/refunds"), json!({"refund_id": "R2"})).await;
    assert_eq!((out["fen"].as_i64(), out["status"].as_str()), (Some(10000), Some("refunded")), "{out}");
    let out = acq.post(&format!("/api/v1/orders/{so3x}/refunds"), json!({"refund_id": "R2"})).await;
    assert_eq!(out["recorded"], false, "the same refund again changes nothing");
    let p = acq.profile(customer_id).await;
    assert_eq!((p["orders"].as_i64(), p["spent_fen"].as_i64()), (Some(2), Some(4500 + 990)), "{p}");
    // Refunding the other two in full: no order left, the stage falls back.
    for shop_id in ["SO-EARLY", "SO-CSV"] {
        let id = acq.get(&format!("/api/v1/orders?shop_order_id={shop_id}")).await["orders"][0]["id"].as_i64().unwrap();
        acq.post(&format!("/api/v1/orders/{id}/refunds"), json!({"refund_id": "all"})).await;
    }
    let p = acq.profile(customer_id).await;
    assert_eq!((p["orders"].as_i64(), p["spent_fen"].as_i64()), (Some(0), Some(0)), "{p}");
    assert_ne!(p["stage"], "converted", "{p}");

    // Attribution decides as configured, and keeps the rule that decided.
    let mut n = 0;
    let mut attributed = |rules: Value, extra: Value| {
        n += 1;
        let acq = &acq;
        async move {
            acq.put("/api/v1/orders/attribution", rules).await;
            let mut o = json!({"shop_order_id": format!("SO-ATTR-{n}"), "ordered_at": now_ms() + 2000,
                "amount_fen": 100, "paid_fen": 100, "customer": {"external_userid": external_of(acq, customer_id).await}});
            o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let out = acq.post("/api/v1/orders", o).await;
            (out["staff_id"].as_i64(), out["rule"].as_str().unwrap_or("").to_string())
        }
    };
    assert_eq!(
        attributed(json!({"rules": [{"rule": "first_guide"}]}), json!({})).await,
        (Some(wang), "first_guide".into())
    );
    assert_eq!(
        attributed(json!({"rules": [{"rule": "last_guide"}]}), json!({})).await,
        (Some(li), "last_guide".into())
    );
    assert_eq!(
        attributed(json!({"rules": [{"rule": "locked_guide", "days": 7}]}), json!({})).await,
        (Some(wang), "locked_guide".into()),
        "李娜 added within 王芳's lock"
    );
    let coupon = json!({"rules": [{"rule": "coupon_guide"}, {"rule": "last_guide"}]});
    assert_eq!(attributed(coupon, json!({"coupon_guide": "wang.fang"})).await, (Some(wang), "coupon_guide".into()));
    let duty = json!({"rules": [{"rule": "store_on_duty"}], "duty": [{"store_id": acq.store_id, "staff_id": li}]});
    assert_eq!(attributed(duty, json!({"store_code": "SH-JA"})).await, (Some(li), "store_on_duty".into()));

    // The report by guide counts what was attributed.
    let report = acq.get(&format!("/api/v1/orders/report?by=staff&from={}&to={}", t0 - 1, now_ms() + 60_000)).await;
    let lines = report["lines"].as_array().unwrap();
    let of = |id: i64| lines.iter().find(|l| l["id"].as_i64() == Some(id)).map(|l| l["orders"].as_i64().unwrap());
    assert_eq!(of(wang), Some(3), "first_guide, locked_guide, coupon_guide: {report}");

    console(&acq, early_id).await;
}

/// The console's pages, in Chinese and English: the list, an order with its
/// attribution rule, the report, the rules and the integrations (a new
/// secret shown once); a refund from the order's page.
async fn console(acq: &Acq, order_id: i64) {
    let c = crate::support::login(&acq.server, &acq.owner, crate::support::PASSWORD).await;
    let page = |path: String| {
        let c = c.clone();
        let url = acq.server.url(&path);
        async move {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    for lang in ["zh", "en"] {
        c.get(acq.server.url(&format!("/console/lang?to={lang}"))).send().await.unwrap();
        let list = page("/console/orders".into()).await;
        assert!(list.contains("SO-EARLY") && list.contains("SO-ATTR-1"), "{lang}");
        let detail = page(format!("/console/orders/{order_id}")).await;
        assert!(detail.contains("苹果礼盒"));
        let report = page("/console/order-report?by=code".into()).await;
        assert!(report.contains("order-report"));
        let rules = page("/console/order-attribution".into()).await;
        assert!(rules.contains("store_on_duty"));
        let hooks = page("/console/order-integrations".into()).await;
        assert!(hooks.contains("/webhooks/orders/"));
        let waiting = page("/console/orders?matched=no".into()).await;
        assert!(!waiting.contains("SO-EARLY"), "matched orders are not waiting");
    }
    let en = page(format!("/console/orders/{order_id}")).await;
    assert!(en.contains("Attribution") && en.contains("Decided by"), "English words");
    // A new integration from the console: its secret on this page only.
    let token = crate::support::csrf(&c, &acq.server, "/console/order-integrations").await;
    let r = c
        .post(acq.server.url("/console/order-integrations"))
        .form(&[("_csrf", token.as_str()), ("name", "POS 收银")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("integration-secret"), "the secret is shown once");
    assert!(!page("/console/order-integrations".into()).await.contains("integration-secret"));
    // A refund of a paid order from its page.
    let id = acq.get("/api/v1/orders?shop_order_id=SO-ATTR-5").await["orders"][0]["id"].as_i64().unwrap();
    let token = crate::support::csrf(&c, &acq.server, &format!("/console/orders/{id}")).await;
    let r = c
        .post(acq.server.url(&format!("/console/orders/{id}/refund")))
        .form(&[("_csrf", token.as_str()), ("refund_id", "C1"), ("amount", "0.40"), ("reason", "破损")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let o = acq.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!((o["order"]["refunded_fen"].as_i64(), o["order"]["status"].as_str()), (Some(40), Some("part_refunded")));
}

async fn external_of(acq: &Acq, customer_id: i64) -> String {
    acq.get(&format!("/api/v1/customers/{customer_id}")).await["external_userid"].as_str().unwrap().to_string()
}
