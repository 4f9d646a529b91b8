//! WeChat Pay's 企业付款到零钱 through koi's pay client against the
//! simulator over real HTTP: idempotency by `partner_trade_no`, WeChat's
//! limits (¥0.30 at least, the user's day, the balance) and SYSTEMERROR
//! that did or did not pay.

use std::time::Duration;

use super::{Rig, NOW};
use koi_sim::{PayFault, PayFaults};
use koi_wecom::client::ConvertToOpenidRequest;
use koi_wecom::pay::{Merchant, PayClient, PayError, PayErrorKind, TransferRequest};

fn merchant(rig: &Rig) -> Merchant {
    let m = rig.sim.state().pay_merchants().into_iter().next().expect("a merchant per corp");
    Merchant {
        base_url: format!("{}/pay", rig.sim.base_url()),
        mch_id: m.mch_id,
        wxappid: m.wxappid,
        api_key: m.api_key,
        workwx_secret: m.workwx_secret,
    }
}

async fn customer_openid(rig: &Rig, name: &str) -> String {
    let way = rig.contact_way("transfer", &["guide01"]).await;
    let (external_userid, _, _) = rig.scan(way.qr_code.as_deref().expect("qr_code"), name).await;
    let req = ConvertToOpenidRequest { external_userid };
    rig.corp.convert_to_openid(&req, NOW).await.expect("convert_to_openid").openid
}

fn transfer(no: &str, openid: &str, fen: i64) -> TransferRequest {
    TransferRequest { partner_trade_no: no.into(), openid: openid.into(), amount: fen, desc: "分销佣金".into() }
}

fn refused(result: Result<impl std::fmt::Debug, PayError>) -> (String, PayErrorKind) {
    match result {
        Err(e) => (e.err_code().unwrap_or_else(|| panic!("not a WeChat Pay refusal: {e}")).to_owned(), e.kind()),
        Ok(answer) => panic!("expected a refusal, got {answer:?}"),
    }
}

#[tokio::test]
async fn a_transfer_is_paid_once_per_trade_number_within_wechats_limits() {
    let rig = Rig::start().await;
    let koi = merchant(&rig);
    let pay = PayClient::new(Duration::from_secs(5)).expect("pay client");
    let openid = customer_openid(&rig, "小红").await;
    let state = rig.sim.state();
    let before = state.pay_transfers(&koi.mch_id).expect("truth").balance_fen;

    let done = pay.transfer(&koi, &transfer("koid1x1", &openid, 1_150)).await.expect("paid");
    assert_eq!(done.partner_trade_no, "koid1x1");
    assert!(!done.payment_no.is_empty() && done.payment_time.len() == 19, "{done:?}");
    let again = pay.transfer(&koi, &transfer("koid1x1", &openid, 1_150)).await.expect("the same answer");
    assert_eq!(again, done, "the same number answers the first payment");
    let (code, kind) = refused(pay.transfer(&koi, &transfer("koid1x1", &openid, 1_151)).await);
    assert_eq!((code.as_str(), kind), ("FATAL_ERROR", PayErrorKind::Final));

    // WeChat's limits; none of these pays.
    let cases = [
        (Merchant { api_key: "wrong".into(), ..koi.clone() }, transfer("koid2x1", &openid, 100), "SIGN_ERROR"),
        (koi.clone(), transfer("koid2x2", &openid, 29), "AMOUNT_LIMIT"),
        (koi.clone(), transfer("koid2x3", &openid, 20_001), "AMOUNT_LIMIT"),
        (koi.clone(), transfer("koid2x4", "oNOTANOPENIDOFTHISCORP000000", 100), "OPENID_ERROR"),
        (koi.clone(), transfer("koid-2", &openid, 100), "PARAM_ERROR"),
        (koi.clone(), TransferRequest { desc: String::new(), ..transfer("koid2x5", &openid, 100) }, "PARAM_ERROR"),
    ];
    for (m, req, expected) in cases {
        let (code, kind) = refused(pay.transfer(&m, &req).await);
        assert_eq!((code.as_str(), kind), (expected, PayErrorKind::Final), "{}", req.partner_trade_no);
    }
    // The balance: NOTENOUGH waits for the operator, and paid nothing.
    let balance = state.pay_transfers(&koi.mch_id).unwrap().balance_fen;
    assert!(state.set_pay_balance(&koi.mch_id, 40));
    let (code, kind) = refused(pay.transfer(&koi, &transfer("koid3x1", &openid, 50)).await);
    assert_eq!((code.as_str(), kind), ("NOTENOUGH", PayErrorKind::RetryLater));
    assert!(state.set_pay_balance(&koi.mch_id, balance));
    // ≤¥200 a user a day: 1150 paid, so 18850 more and not a fen beyond.
    pay.transfer(&koi, &transfer("koid3x1", &openid, 18_850)).await.expect("up to the day's limit");
    let (code, kind) = refused(pay.transfer(&koi, &transfer("koid3x2", &openid, 30)).await);
    assert_eq!((code.as_str(), kind), ("MONEY_LIMIT", PayErrorKind::RetryLater));
    // A new (Shanghai) day: ≤10 payments a user.
    rig.advance(86_400.0).await;
    for n in 0..10 {
        pay.transfer(&koi, &transfer(&format!("koid4x{n}"), &openid, 30)).await.expect("within 10");
    }
    let (code, _) = refused(pay.transfer(&koi, &transfer("koid4x10", &openid, 30)).await);
    assert_eq!(code, "SENDNUM_LIMIT");

    let truth = state.pay_transfers(&koi.mch_id).expect("truth");
    assert_eq!(truth.transfers.len(), 12);
    assert_eq!(truth.transfers[0].repeats, 1);
    assert_eq!(truth.by_openid[&openid].fen, 20_000 + 300);
    assert_eq!(truth.balance_fen, before - 20_300);
    // The control API shows the same truth.
    let url = format!("{}/sim/pay/merchants/{}/transfers", rig.sim.base_url(), koi.mch_id);
    let v: serde_json::Value = rig.http.get(url).send().await.expect("get").json().await.expect("json");
    assert_eq!(v["transfers"].as_array().map(Vec::len), Some(12));
    rig.shutdown().await;
}

#[tokio::test]
async fn a_systemerror_is_cleared_by_the_same_trade_number() {
    let rig = Rig::start().await;
    let koi = merchant(&rig);
    let pay = PayClient::new(Duration::from_millis(300)).expect("pay client");
    let openid = customer_openid(&rig, "小红").await;
    let state = rig.sim.state();
    for (n, fault) in [PayFault::Systemerror, PayFault::SystemerrorPaid, PayFault::TimeoutPaid].into_iter().enumerate()
    {
        let faults = PayFaults { script: vec![fault], timeout_ms: 1_000, ..PayFaults::default() };
        assert!(state.set_pay_faults(&koi.mch_id, faults));
        let no = format!("koid9x{n}");
        let first = pay.transfer(&koi, &transfer(&no, &openid, 100)).await;
        let e = first.expect_err("the first answer proves nothing");
        assert_eq!(e.kind(), PayErrorKind::RetrySameBillno, "{fault:?}: {e}");
        let paid = state.pay_transfers(&koi.mch_id).unwrap().transfers.iter().any(|t| t.partner_trade_no == no);
        assert_eq!(paid, fault != PayFault::Systemerror, "{fault:?}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        pay.transfer(&koi, &transfer(&no, &openid, 100)).await.expect("the retry learns the outcome");
    }
    let truth = state.pay_transfers(&koi.mch_id).unwrap();
    assert_eq!(truth.transfers.len(), 3, "each number paid once");
    rig.shutdown().await;
}
