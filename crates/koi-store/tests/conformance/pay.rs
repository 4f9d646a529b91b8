//! WeChat Pay settings on both databases: saved whole, read back with the
//! secrets open, sealed at rest, and carried over a master-key rotation.

use super::{corp, NOW};
use koi_store::pay::PaySettingsRow;
use koi_store::secrets::MasterKey;
use koi_store::Db;

on_both!(pay_settings_round_trip_sealed_and_survive_a_key_rotation);

fn settings(api_key: &str) -> PaySettingsRow {
    PaySettingsRow {
        enabled: true,
        mch_id: "1900000109".into(),
        wxappid: "wwPAY".into(),
        api_key: api_key.into(),
        workwx_secret: "pay-app-secret".into(),
        base_url: "http://127.0.0.1:9/pay".into(),
        act_name: "老带新".into(),
        wishing: "恭喜发财".into(),
        updated_at: NOW,
    }
}

async fn pay_settings_round_trip_sealed_and_survive_a_key_rotation(db: &Db) {
    let old = MasterKey::generate();
    let keyed = db.clone().with_master_key(old.clone());
    let corp_id = corp(&keyed, "wwPAY").await;
    let other = corp(&keyed, "wwOTHER").await;
    assert_eq!(keyed.pay_settings(corp_id).await.unwrap(), None, "none saved yet");

    let s = settings("merchant-api-key-0123456789abcdef");
    keyed.save_pay_settings(corp_id, &s).await.unwrap();
    assert_eq!(keyed.pay_settings(corp_id).await.unwrap(), Some(s.clone()));
    assert_eq!(keyed.pay_settings(other).await.unwrap(), None, "one corp's settings are its own");
    let raw = keyed.stored_pay_secrets(corp_id).await.unwrap().unwrap();
    assert!(raw.iter().all(|v| v.starts_with("koi1:")), "{raw:?}");
    assert!(!raw.iter().any(|v| v.contains("merchant-api-key") || v.contains("pay-app-secret")));

    // Saved again (an edit): the row is replaced, not duplicated.
    let edited = PaySettingsRow { enabled: false, workwx_secret: String::new(), ..settings("second-key") };
    keyed.save_pay_settings(corp_id, &edited).await.unwrap();
    assert_eq!(keyed.pay_settings(corp_id).await.unwrap(), Some(edited.clone()));
    assert_eq!(keyed.stored_pay_secrets(corp_id).await.unwrap().unwrap()[1], "", "an unset secret stays empty");

    // A rotation moves them to the new key with the corps' secrets.
    let new = MasterKey::generate();
    let (_, rotated) = keyed.rotate_master_key(new.clone()).await.unwrap();
    assert_eq!(rotated.secret_key_ids().await.unwrap(), [new.id()]);
    assert_eq!(rotated.pay_settings(corp_id).await.unwrap(), Some(edited));
    assert!(keyed.pay_settings(corp_id).await.is_err(), "the old key no longer opens them");
}
