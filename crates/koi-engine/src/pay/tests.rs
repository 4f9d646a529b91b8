//! A red packet paid through the simulator over real HTTP: WeCom's
//! `convert_to_openid`, then WeChat Pay with a SYSTEMERROR behind which the
//! packet was in fact paid; the retry with the same billno learns the truth,
//! and the simulator shows exactly one payment.

use super::*;
use crate::jobs::JobError;
use crate::Settings;
use koi_domain::access::Role;
use koi_domain::org::CorpDraft;
use koi_sim::{NewCustomer, PayFault, PayFaults, SimConfig, Simulator};
use koi_store::secrets::MasterKey;

fn owner(corp_id: i64) -> Principal {
    Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_packet_is_paid_once_through_a_systemerror() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sim = Simulator::start(SimConfig { clock_speed: 0.0, ..SimConfig::default() }, listener).await.expect("sim");
    let sim_corp = koi_sim::SimCorp::default();
    let merchant = sim.state().pay_merchants().remove(0);

    let scratch = koi_store::scratch::ScratchDb::sqlite().await.expect("scratch db");
    let db = scratch.db.clone().with_master_key(MasterKey::generate());
    let engine = Engine::new(db, Settings { wecom_base_url: sim.base_url(), ..Settings::default() });
    let corp_id = engine
        .add_corp(CorpDraft {
            name: "悦步".into(),
            wecom_corp_id: sim_corp.corp_id.clone(),
            app_secret: sim_corp.secret.clone(),
            callback_token: sim_corp.token.clone(),
            encoding_aes_key: sim_corp.encoding_aes_key.clone(),
        })
        .await
        .expect("corp");
    let (external_userid, _) = sim
        .state()
        .act_on(None, |w| w.ensure_customer(&NewCustomer { name: Some("小红".into()), ..Default::default() }))
        .expect("the sim's corp");
    let packet = RedPacket {
        billno: "koi7r42".into(),
        external_userid: external_userid.clone(),
        amount_fen: 888,
        wishing: String::new(),
        act_name: String::new(),
    };

    // Not configured: refused, nothing sent.
    let e = engine.pay_red_packet(corp_id, &packet).await.expect_err("no settings");
    assert_eq!(e.code(), "not_configured");
    assert!(matches!(JobError::from(e), JobError::Refused(_)));

    // Set up as `koi demo` does: pointed at the simulator's merchant. The
    // keys are never shown back.
    let input = PaySettingsInput {
        enabled: true,
        mch_id: merchant.mch_id.clone(),
        wxappid: String::new(),
        api_key: merchant.api_key.clone(),
        workwx_secret: merchant.workwx_secret.clone(),
        base_url: format!("{}/pay", sim.base_url()),
        act_name: "老带新裂变".into(),
        wishing: "感谢推荐，恭喜发财".into(),
    };
    let shown = engine.save_pay_settings(&owner(corp_id), input).await.expect("saved");
    assert_eq!(shown.wxappid, sim_corp.corp_id, "the CorpID by default");
    assert!(shown.api_key_set && shown.workwx_secret_set);
    let json = serde_json::to_string(&engine.pay_settings(&owner(corp_id)).await.expect("read")).expect("json");
    assert!(!json.contains(&merchant.api_key) && !json.contains(&merchant.workwx_secret), "{json}");

    // WeChat Pay pays, then answers SYSTEMERROR.
    let faults = PayFaults { script: vec![PayFault::SystemerrorPaid], ..PayFaults::default() };
    assert!(sim.state().set_pay_faults(&merchant.mch_id, faults));
    let e = engine.pay_red_packet(corp_id, &packet).await.expect_err("an unknown outcome");
    assert!(matches!(e, PayError::RetrySameBillno(_)), "{e:?}");
    assert!(matches!(JobError::from(e), JobError::Retry(_)));
    let paid = sim.state().pay_truth(&merchant.mch_id).expect("truth").payments;
    assert_eq!(paid.len(), 1, "paid behind the SYSTEMERROR");

    // The retry with the same billno gets the truth, and pays nothing more.
    let PayOutcome::Paid { send_listid, openid } = engine.pay_red_packet(corp_id, &packet).await.expect("the truth");
    assert_eq!(send_listid, paid[0].send_listid);
    let again = engine.pay_red_packet(corp_id, &packet).await.expect("still the same");
    assert_eq!(again, PayOutcome::Paid { send_listid: send_listid.clone(), openid: openid.clone() });
    let truth = sim.state().pay_truth(&merchant.mch_id).expect("truth");
    assert_eq!(truth.payments.len(), 1, "exactly one payment");
    assert_eq!((truth.payments[0].total_amount, truth.payments[0].act_name.as_str()), (888, "老带新裂变"));
    assert_eq!((truth.by_openid[&openid].count, truth.by_openid[&openid].fen), (1, 888));
    assert_eq!(truth.balance_fen, merchant.balance_fen - 888);

    // The operator's problems and the final ones are told apart.
    assert!(sim.state().set_pay_balance(&merchant.mch_id, 100));
    let poor = RedPacket { billno: "koi7r43".into(), ..packet.clone() };
    let e = engine.pay_red_packet(corp_id, &poor).await.expect_err("NOTENOUGH");
    assert!(matches!(&e, PayError::RetryLater { code, .. } if code == "NOTENOUGH"), "{e:?}");
    assert!(matches!(JobError::from(e), JobError::Retry(m) if m.contains("NOTENOUGH")));
    let stranger = RedPacket { billno: "koi7r44".into(), external_userid: "wmNOBODY".into(), ..packet.clone() };
    let e = engine.pay_red_packet(corp_id, &stranger).await.expect_err("unknown customer");
    assert_eq!(e.code(), "wecom_refused");
    let tiny = RedPacket { billno: "koi7r45".into(), amount_fen: 99, ..packet.clone() };
    assert_eq!(engine.pay_red_packet(corp_id, &tiny).await.expect_err("too small").code(), "invalid");
    let reused = RedPacket { amount_fen: 999, ..packet.clone() };
    let e = engine.pay_red_packet(corp_id, &reused).await.expect_err("billno reused with another amount");
    assert_eq!(e.code(), "FATAL_ERROR");
    assert!(matches!(JobError::from(e), JobError::Refused(_)));
    assert_eq!(sim.state().pay_truth(&merchant.mch_id).expect("truth").payments.len(), 1);
    sim.shutdown().await;
}
