//! WeChat Pay's red packets through koi's pay client, and WeCom's
//! `convert_to_openid` through koi's WeCom client, against the simulator
//! over real HTTP: signatures, limits, idempotency by billno and the
//! failures whose outcome is unknown.

use std::time::Duration;

use super::{wecom_code, Rig, NOW};
use koi_sim::{PayFault, PayFaults, SimMerchant};
use koi_wecom::client::ConvertToOpenidRequest;
use koi_wecom::pay::{Merchant, PayClient, PayError, PayErrorKind, SendWorkwxRedpackRequest};
use koi_wecom::ErrCode;
use serde_json::json;

fn merchant(rig: &Rig) -> (SimMerchant, Merchant) {
    let m = rig.sim.state().pay_merchants().into_iter().next().expect("a merchant per corp");
    let koi = Merchant {
        base_url: format!("{}/pay", rig.sim.base_url()),
        mch_id: m.mch_id.clone(),
        wxappid: m.wxappid.clone(),
        api_key: m.api_key.clone(),
        workwx_secret: m.workwx_secret.clone(),
    };
    (m, koi)
}

/// A WeChat customer of the corp and their openid.
async fn customer_openid(rig: &Rig, name: &str) -> String {
    let way = rig.contact_way("pay", &["guide01"]).await;
    let (external_userid, _, _) = rig.scan(way.qr_code.as_deref().expect("qr_code"), name).await;
    let req = ConvertToOpenidRequest { external_userid };
    rig.corp.convert_to_openid(&req, NOW).await.expect("convert_to_openid").openid
}

fn packet(billno: &str, openid: &str, fen: i64) -> SendWorkwxRedpackRequest {
    SendWorkwxRedpackRequest {
        mch_billno: billno.into(),
        re_openid: openid.into(),
        total_amount: fen,
        wishing: "感谢推荐好友，恭喜发财".into(),
        act_name: "老带新裂变".into(),
        ..Default::default()
    }
}

fn refused(result: Result<impl std::fmt::Debug, PayError>) -> (String, PayErrorKind) {
    match result {
        Err(e) => (e.err_code().unwrap_or_else(|| panic!("not a WeChat Pay refusal: {e}")).to_owned(), e.kind()),
        Ok(answer) => panic!("expected a refusal, got {answer:?}"),
    }
}

#[tokio::test]
async fn convert_to_openid_is_stable_per_customer_and_refuses_strangers() {
    let rig = Rig::start().await;
    let way = rig.contact_way("openid", &["guide01"]).await;
    let (ext, _, _) = rig.scan(way.qr_code.as_deref().expect("qr_code"), "小红").await;
    let (other, _, _) = rig.scan(way.qr_code.as_deref().expect("qr_code"), "小蓝").await;
    let req = |e: &str| ConvertToOpenidRequest { external_userid: e.to_owned() };
    let first = rig.corp.convert_to_openid(&req(&ext), NOW).await.expect("openid").openid;
    let again = rig.corp.convert_to_openid(&req(&ext), NOW).await.expect("openid").openid;
    let theirs = rig.corp.convert_to_openid(&req(&other), NOW).await.expect("openid").openid;
    assert_eq!(first, again, "the same customer has one openid");
    assert_ne!(first, theirs);
    assert!(first.starts_with('o') && first.len() == 28, "{first}");
    assert_eq!(
        wecom_code(rig.corp.convert_to_openid(&req("wmNOBODY0000000000000000000000000"), NOW).await),
        ErrCode::INVALID_EXTERNAL_USERID
    );
    // A WeCom user of another corp (wo…) has no WeChat openid.
    let scan =
        rig.person("scan", json!({ "qr_code": way.qr_code, "customer": { "name": "同行", "wecom": true } })).await;
    let wo = scan["external_userid"].as_str().expect("external_userid");
    assert!(wo.starts_with("wo"), "{wo}");
    assert_eq!(wecom_code(rig.corp.convert_to_openid(&req(wo), NOW).await), ErrCode::INVALID_EXTERNAL_USERID);
    rig.shutdown().await;
}

#[tokio::test]
async fn a_red_packet_is_paid_once_per_billno_and_read_back() {
    let rig = Rig::start().await;
    let (sim_merchant, koi) = merchant(&rig);
    let pay = PayClient::new(Duration::from_secs(5)).expect("pay client");
    let openid = customer_openid(&rig, "小红").await;
    let before = sim_merchant.balance_fen;

    let sent = pay.send_workwx_redpack(&koi, &packet("koi20261207000001", &openid, 888)).await.expect("paid");
    assert_eq!(
        (sent.mch_billno.as_str(), sent.total_amount, sent.re_openid.as_str()),
        ("koi20261207000001", 888, openid.as_str())
    );
    assert!(!sent.send_listid.is_empty());
    // The same billno again: the original answer, nothing paid twice.
    let again = pay.send_workwx_redpack(&koi, &packet("koi20261207000001", &openid, 888)).await.expect("same answer");
    assert_eq!(again, sent);
    // The same billno with another amount: refused for good.
    let (code, kind) = refused(pay.send_workwx_redpack(&koi, &packet("koi20261207000001", &openid, 999)).await);
    assert_eq!((code.as_str(), kind), ("FATAL_ERROR", PayErrorKind::Final));

    let info = pay.get_hb_info(&koi, "koi20261207000001").await.expect("gethbinfo");
    assert_eq!(
        (info.detail_id.as_str(), info.status.as_str(), info.total_amount),
        (sent.send_listid.as_str(), "SENT", 888)
    );
    assert_eq!(info.send_time.len(), 19, "{}", info.send_time);
    let (code, kind) = refused(pay.get_hb_info(&koi, "koiNEVERSENT").await);
    assert_eq!((code.as_str(), kind), ("NOT_FOUND", PayErrorKind::Final));

    let truth = rig.sim.state().pay_truth(&koi.mch_id).expect("truth");
    assert_eq!(truth.payments.len(), 1);
    assert_eq!(truth.payments[0].repeats, 1);
    assert_eq!(truth.balance_fen, before - 888);
    assert_eq!((truth.by_openid[&openid].count, truth.by_openid[&openid].fen), (1, 888));
    rig.shutdown().await;
}

#[tokio::test]
async fn wrong_keys_and_bad_packets_are_refused_without_paying() {
    let rig = Rig::start().await;
    let (_, koi) = merchant(&rig);
    let pay = PayClient::new(Duration::from_secs(5)).expect("pay client");
    let openid = customer_openid(&rig, "小红").await;
    let cases: Vec<(Merchant, SendWorkwxRedpackRequest, &str)> = vec![
        (Merchant { api_key: "wrong-key".into(), ..koi.clone() }, packet("koiA1", &openid, 500), "SIGN_ERROR"),
        (Merchant { workwx_secret: "wrong".into(), ..koi.clone() }, packet("koiA2", &openid, 500), "WORKWX_SIGN_ERROR"),
        (Merchant { wxappid: "wwsomeoneelse".into(), ..koi.clone() }, packet("koiA3", &openid, 500), "ILLEGAL_APPID"),
        (koi.clone(), packet("koiA4", "oNOTANOPENIDOFTHISCORP000000", 500), "OPENID_ERROR"),
        (koi.clone(), packet("koiA5", &openid, 99), "PARAM_ERROR"),
        (koi.clone(), packet("koiA6", &openid, 20_001), "PARAM_ERROR"),
        (koi.clone(), packet("koi-with-dash", &openid, 500), "PARAM_ERROR"),
        (koi.clone(), packet("koi0123456789012345678901234x", &openid, 500), "PARAM_ERROR"),
        (
            koi.clone(),
            SendWorkwxRedpackRequest { act_name: String::new(), ..packet("koiA7", &openid, 500) },
            "PARAM_ERROR",
        ),
    ];
    for (merchant, req, expected) in cases {
        let (code, kind) = refused(pay.send_workwx_redpack(&merchant, &req).await);
        assert_eq!((code.as_str(), kind), (expected, PayErrorKind::Final), "{}", req.mch_billno);
    }
    // Outside ¥1–200 a scene_id makes it a legal packet.
    let big = SendWorkwxRedpackRequest { scene_id: "PRODUCT_2".into(), ..packet("koiA8", &openid, 30_000) };
    pay.send_workwx_redpack(&koi, &big).await.expect("with scene_id");
    let truth = rig.sim.state().pay_truth(&koi.mch_id).expect("truth");
    assert_eq!(truth.payments.len(), 1, "only the legal packet was paid");
    rig.shutdown().await;
}

#[tokio::test]
async fn the_balance_and_the_users_day_are_wechats_limits() {
    let rig = Rig::start().await;
    let (_, koi) = merchant(&rig);
    let pay = PayClient::new(Duration::from_secs(5)).expect("pay client");
    let openid = customer_openid(&rig, "小红").await;
    let state = rig.sim.state();

    assert!(state.set_pay_balance(&koi.mch_id, 300));
    let (code, kind) = refused(pay.send_workwx_redpack(&koi, &packet("koiB0", &openid, 500)).await);
    assert_eq!((code.as_str(), kind), ("NOTENOUGH", PayErrorKind::RetryLater));
    // Funded, the same billno goes through: NOTENOUGH paid nothing.
    let r = rig.http.put(format!("{}/sim/pay/merchants/{}/balance", rig.sim.base_url(), koi.mch_id));
    assert!(r.json(&json!({ "balance_fen": 1_000_000 })).send().await.expect("put").status().is_success());
    pay.send_workwx_redpack(&koi, &packet("koiB0", &openid, 500)).await.expect("paid after funding");

    // ≤10 packets a user a day.
    for n in 1..10 {
        pay.send_workwx_redpack(&koi, &packet(&format!("koiB{n}"), &openid, 100)).await.expect("within 10");
    }
    let (code, kind) = refused(pay.send_workwx_redpack(&koi, &packet("koiB10", &openid, 100)).await);
    assert_eq!((code.as_str(), kind), ("SENDNUM_LIMIT", PayErrorKind::Final));
    // A new (Shanghai) day starts the count again; ≤¥1000 a user a day.
    rig.advance(86_400.0).await;
    for n in 0..5 {
        pay.send_workwx_redpack(&koi, &packet(&format!("koiC{n}"), &openid, 20_000)).await.expect("¥200 × 5");
    }
    let (code, kind) = refused(pay.send_workwx_redpack(&koi, &packet("koiC5", &openid, 100)).await);
    assert_eq!((code.as_str(), kind), ("MONEY_LIMIT", PayErrorKind::Final));

    let truth = state.pay_truth(&koi.mch_id).expect("truth");
    assert_eq!(truth.by_openid[&openid].count, 15);
    assert_eq!(truth.by_openid[&openid].fen, 500 + 9 * 100 + 5 * 20_000);
    assert_eq!(truth.balance_fen, 1_000_000 - truth.by_openid[&openid].fen);
    rig.shutdown().await;
}

#[tokio::test]
async fn an_unknown_outcome_is_cleared_by_the_same_billno() {
    let rig = Rig::start().await;
    let (_, koi) = merchant(&rig);
    let pay = PayClient::new(Duration::from_millis(300)).expect("pay client");
    let openid = customer_openid(&rig, "小红").await;
    let state = rig.sim.state();
    // One fault for the next send; the retry that follows meets none.
    let inject = |fault: PayFault| {
        let faults = PayFaults { script: vec![fault], timeout_ms: 1_000, ..PayFaults::default() };
        assert!(state.set_pay_faults(&koi.mch_id, faults));
    };
    // Faults are set over the control API too.
    let r = rig.http.put(format!("{}/sim/pay/merchants/{}/faults", rig.sim.base_url(), koi.mch_id));
    let faults = PayFaults { script: vec![PayFault::Systemerror], ..PayFaults::default() };
    assert!(r.json(&faults).send().await.expect("put").status().is_success());

    // SYSTEMERROR, not paid: the retry pays.
    let (code, kind) = refused(pay.send_workwx_redpack(&koi, &packet("koiD1", &openid, 100)).await);
    assert_eq!((code.as_str(), kind), ("SYSTEMERROR", PayErrorKind::RetrySameBillno));
    assert!(state.pay_truth(&koi.mch_id).expect("truth").payments.is_empty());
    pay.send_workwx_redpack(&koi, &packet("koiD1", &openid, 100)).await.expect("retry pays");
    // SYSTEMERROR although paid: the retry answers the payment made.
    inject(PayFault::SystemerrorPaid);
    let (code, _) = refused(pay.send_workwx_redpack(&koi, &packet("koiD2", &openid, 200)).await);
    assert_eq!(code, "SYSTEMERROR");
    let paid = state.pay_truth(&koi.mch_id).expect("truth").payments;
    assert_eq!(paid.last().map(|p| p.mch_billno.as_str()), Some("koiD2"), "paid behind the SYSTEMERROR");
    let retry = pay.send_workwx_redpack(&koi, &packet("koiD2", &openid, 200)).await.expect("the truth");
    assert_eq!(retry.send_listid, paid.last().expect("koiD2").send_listid);
    // A timeout after paying: the client gives up; the retry answers the payment.
    inject(PayFault::TimeoutPaid);
    let e = pay.send_workwx_redpack(&koi, &packet("koiD3", &openid, 300)).await.expect_err("timed out");
    assert!(matches!(e, PayError::Http { .. }) && e.kind() == PayErrorKind::RetrySameBillno, "{e}");
    pay.send_workwx_redpack(&koi, &packet("koiD3", &openid, 300)).await.expect("retry answers");
    // A timeout without paying: the retry pays.
    inject(PayFault::Timeout);
    let e = pay.send_workwx_redpack(&koi, &packet("koiD4", &openid, 400)).await.expect_err("timed out");
    assert_eq!(e.kind(), PayErrorKind::RetrySameBillno);
    pay.send_workwx_redpack(&koi, &packet("koiD4", &openid, 400)).await.expect("retry pays");

    let truth = state.pay_truth(&koi.mch_id).expect("truth");
    let billnos: Vec<&str> = truth.payments.iter().map(|p| p.mch_billno.as_str()).collect();
    assert_eq!(billnos, ["koiD1", "koiD2", "koiD3", "koiD4"], "each packet paid exactly once");
    assert_eq!(truth.by_openid[&openid].fen, 1000);
    rig.shutdown().await;
}

#[tokio::test]
async fn a_merchant_pays_out_at_most_its_daily_cap() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let pay_limits = koi_sim::PayLimits { merchant_day_fen: 500, ..koi_sim::PayLimits::default() };
    let config =
        koi_sim::SimConfig { clock_speed: 0.0, corps: vec![super::corp_config()], pay_limits, ..Default::default() };
    let sim = koi_sim::Simulator::start(config, listener).await.expect("sim");
    let client = koi_wecom::client::WecomClient::new(koi_wecom::client::ClientConfig {
        base_url: sim.base_url(),
        ..Default::default()
    })
    .expect("client");
    let rig = Rig { corp: client.corp(super::CORP_ID, super::SECRET), sim, http: reqwest::Client::new() };
    let (_, koi) = merchant(&rig);
    let pay = PayClient::new(Duration::from_secs(5)).expect("pay client");
    let openid = customer_openid(&rig, "小红").await;
    pay.send_workwx_redpack(&koi, &packet("koiE1", &openid, 400)).await.expect("within the cap");
    let (code, kind) = refused(pay.send_workwx_redpack(&koi, &packet("koiE2", &openid, 200)).await);
    assert_eq!((code.as_str(), kind), ("SENDAMOUNT_LIMIT", PayErrorKind::RetryLater));
    rig.advance(86_400.0).await;
    pay.send_workwx_redpack(&koi, &packet("koiE2", &openid, 200)).await.expect("the next day");
    rig.shutdown().await;
}
