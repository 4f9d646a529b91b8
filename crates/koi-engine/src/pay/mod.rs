//! WeChat Pay for rewards: the corp's pay settings (use cases for the
//! console and the API; the keys are never shown back) and
//! [`Engine::pay_red_packet`], which a reward job calls to pay one red
//! packet to a customer.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | settings use cases, the red packet payment and its errors |
//! | `transfer.rs` | 企业付款到零钱 for commission payouts ([`Engine::pay_transfer`]) |
//! | `tests.rs` | a payment through the simulator over HTTP, SYSTEMERROR included |
//!
//! Exactly once: the caller derives the `billno` from its ledger row and
//! passes the same one on every retry; WeChat Pay answers a billno it has
//! paid with the original payment, never a second one. So every failure
//! whose outcome is unknown is [`PayError::RetrySameBillno`], and only an
//! answer that proves nothing was paid is a refusal.

use crate::jobs::JobError;
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::pay::PaySettingsDraft;
use koi_store::now_ms;
use koi_store::pay::PaySettingsRow;
use koi_wecom::client::{ConvertToOpenidRequest, Priority};
use koi_wecom::pay::{Merchant, PayErrorKind, SendWorkwxRedpackRequest, DEFAULT_PAY_BASE_URL};
use serde::{Deserialize, Serialize};

/// The corp's pay settings as shown: whether each secret is set, never
/// the secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaySettings {
    /// Red packets are paid only when on.
    pub enabled: bool,
    /// The merchant number (商户号).
    pub mch_id: String,
    /// The appid packets are paid under: the corp's CorpID for WeCom red
    /// packets (the CorpID when left empty).
    pub wxappid: String,
    pub api_key_set: bool,
    pub workwx_secret_set: bool,
    /// Empty for WeChat Pay itself; the simulator's `http://SIM/pay`.
    pub base_url: String,
    /// Defaults for packets whose campaign names none.
    pub act_name: String,
    pub wishing: String,
    pub updated_at: i64,
}

/// The pay settings as an operator saves them. A secret left empty keeps
/// the stored one, so the form never has to show secrets back.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PaySettingsInput {
    pub enabled: bool,
    pub mch_id: String,
    pub wxappid: String,
    /// The merchant's v2 API key (商户平台 → API安全); empty keeps it.
    pub api_key: String,
    /// The secret of the 企业支付 app in the WeCom admin console; empty keeps it.
    pub workwx_secret: String,
    pub base_url: String,
    pub act_name: String,
    pub wishing: String,
}

/// One red packet to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedPacket {
    /// ≤28 ASCII letters and digits: the idempotency key the caller derives
    /// from its ledger row, the same on every retry.
    pub billno: String,
    pub external_userid: String,
    /// 100–20000 fen (WeChat's default bounds).
    pub amount_fen: i64,
    /// Empty: the corp's default wishing.
    pub wishing: String,
    /// Empty: the corp's default activity name.
    pub act_name: String,
}

/// A red packet WeChat Pay took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// Paid (now, or by an earlier attempt with the same billno).
    Paid {
        /// WeChat's id of the packet.
        send_listid: String,
        openid: String,
    },
}

/// Why a red packet was not (known to be) paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// The outcome is unknown, or the refusal passes (SYSTEMERROR,
    /// FREQ_LIMIT, a timeout, the network, WeCom busy, the database): call
    /// again with the **same** billno.
    #[error("retry with the same billno: {0}")]
    RetrySameBillno(String),
    /// Nothing was paid; it can work once the operator acts (NOTENOUGH:
    /// fund the merchant account).
    #[error("{code}: {reason}")]
    RetryLater { code: String, reason: String },
    /// Nothing was paid, and this packet never will be: pay not configured,
    /// a bad packet, the user's daily limits, WeChat's final err_codes.
    #[error("{code}: {reason}")]
    Refused { code: String, reason: String },
}

impl PayError {
    fn refused(code: &str, reason: impl Into<String>) -> Self {
        PayError::Refused { code: code.into(), reason: reason.into() }
    }

    /// A stable code: WeChat's err_code, or koi's `not_configured`,
    /// `invalid`, `wecom_refused`, `retry`.
    pub fn code(&self) -> &str {
        match self {
            PayError::RetrySameBillno(_) => "retry",
            PayError::RetryLater { code, .. } | PayError::Refused { code, .. } => code,
        }
    }
}

impl From<koi_wecom::pay::PayError> for PayError {
    fn from(e: koi_wecom::pay::PayError) -> Self {
        let code = e.err_code().unwrap_or("protocol").to_owned();
        match e.kind() {
            PayErrorKind::RetrySameBillno => PayError::RetrySameBillno(e.to_string()),
            PayErrorKind::RetryLater => PayError::RetryLater { code, reason: e.to_string() },
            PayErrorKind::Final => PayError::Refused { code, reason: e.to_string() },
        }
    }
}

/// A job that pays uses `?`: an unknown outcome retries (the same billno,
/// from the job's payload), a passing refusal retries with backoff and shows
/// on the jobs page until the operator acts, a final one ends `refused`.
impl From<PayError> for JobError {
    fn from(e: PayError) -> Self {
        match e {
            PayError::RetrySameBillno(why) => JobError::Retry(format!("wechat pay: {why}")),
            PayError::RetryLater { code, reason } => JobError::Retry(format!("wechat pay {code}: {reason}")),
            PayError::Refused { code, reason } => JobError::Refused(format!("wechat pay {code}: {reason}")),
        }
    }
}

fn view(row: PaySettingsRow) -> PaySettings {
    PaySettings {
        enabled: row.enabled,
        mch_id: row.mch_id,
        wxappid: row.wxappid,
        api_key_set: !row.api_key.is_empty(),
        workwx_secret_set: !row.workwx_secret.is_empty(),
        base_url: row.base_url,
        act_name: row.act_name,
        wishing: row.wishing,
        updated_at: row.updated_at,
    }
}

impl Engine {
    /// The corp's pay settings (off and empty when never saved).
    pub async fn pay_settings(&self, who: &Principal) -> Result<PaySettings> {
        require(who, Action::ViewCorpSettings)?;
        Ok(self.db.pay_settings(who.corp_id).await?.map(view).unwrap_or_default())
    }

    /// Saves the corp's pay settings; an empty secret keeps the stored one,
    /// an empty wxappid takes the corp's CorpID.
    pub async fn save_pay_settings(&self, who: &Principal, input: PaySettingsInput) -> Result<PaySettings> {
        require(who, Action::EditCorpSettings)?;
        let current = self.db.pay_settings(who.corp_id).await?.unwrap_or_default();
        let keep = |new: &str, old: &str| if new.trim().is_empty() { old.to_owned() } else { new.trim().to_owned() };
        let api_key = keep(&input.api_key, &current.api_key);
        let workwx_secret = keep(&input.workwx_secret, &current.workwx_secret);
        let wxappid = match input.wxappid.trim() {
            "" => self.db.corp(who.corp_id).await?.ok_or(EngineError::NotFound("corp"))?.wecom_corp_id,
            given => given.to_owned(),
        };
        let draft = PaySettingsDraft {
            enabled: input.enabled,
            mch_id: input.mch_id,
            wxappid,
            base_url: input.base_url,
            act_name: input.act_name,
            wishing: input.wishing,
            api_key_set: !api_key.is_empty(),
            workwx_secret_set: !workwx_secret.is_empty(),
        }
        .validate()?;
        let row = PaySettingsRow {
            enabled: draft.enabled,
            mch_id: draft.mch_id,
            wxappid: draft.wxappid,
            api_key,
            workwx_secret,
            base_url: draft.base_url,
            act_name: draft.act_name,
            wishing: draft.wishing,
            updated_at: now_ms(),
        };
        self.db.save_pay_settings(who.corp_id, &row).await?;
        self.audit(who, "pay.settings_saved", format!("corp:{}", who.corp_id)).await?;
        Ok(view(row))
    }

    /// Pays one red packet to a customer: their openid from WeCom
    /// (`convert_to_openid`), then `sendworkwxredpack` with `req.billno`.
    /// Called from a job's `prepare` (outside any transaction); the job
    /// records the outcome against its ledger row.
    pub(crate) async fn pay_red_packet(&self, corp_id: i64, req: &RedPacket) -> Result<PayOutcome, PayError> {
        let settings = self
            .db
            .pay_settings(corp_id)
            .await
            .map_err(|e| PayError::RetrySameBillno(format!("database: {e}")))?
            .filter(|s| s.enabled && !s.api_key.is_empty() && !s.workwx_secret.is_empty())
            .ok_or_else(|| PayError::refused("not_configured", "WeChat Pay is not set up for this corp"))?;
        let wishing = if req.wishing.trim().is_empty() { settings.wishing.as_str() } else { req.wishing.trim() };
        let act_name = if req.act_name.trim().is_empty() { settings.act_name.as_str() } else { req.act_name.trim() };
        koi_domain::pay::check_red_packet(&req.billno, req.amount_fen, wishing, act_name)
            .map_err(|e| PayError::refused("invalid", e.to_string()))?;

        let wecom = self.wecom_for(corp_id).await.map_err(|e| PayError::RetrySameBillno(e.to_string()))?;
        let convert = ConvertToOpenidRequest { external_userid: req.external_userid.clone() };
        let openid = match wecom.convert_to_openid(&convert, Priority::Bulk).await {
            Ok(answer) if !answer.openid.is_empty() => answer.openid,
            Ok(_) => return Err(PayError::RetrySameBillno("convert_to_openid answered no openid".into())),
            Err(e) if e.is_final() => return Err(PayError::refused("wecom_refused", e.to_string())),
            Err(e) => return Err(PayError::RetrySameBillno(e.to_string())),
        };
        let merchant = Merchant {
            base_url: if settings.base_url.is_empty() { DEFAULT_PAY_BASE_URL.to_owned() } else { settings.base_url },
            mch_id: settings.mch_id,
            wxappid: settings.wxappid,
            api_key: settings.api_key,
            workwx_secret: settings.workwx_secret,
        };
        let packet = SendWorkwxRedpackRequest {
            mch_billno: req.billno.clone(),
            re_openid: openid.clone(),
            total_amount: req.amount_fen,
            wishing: wishing.to_owned(),
            act_name: act_name.to_owned(),
            ..Default::default()
        };
        match self.pay.send_workwx_redpack(&merchant, &packet).await {
            Ok(sent) => Ok(PayOutcome::Paid { send_listid: sent.send_listid, openid }),
            Err(e) => {
                let e = PayError::from(e);
                if matches!(e, PayError::RetryLater { .. }) {
                    tracing::warn!(corp_id, billno = %req.billno, error = %e, "red packet waits for the operator");
                }
                Err(e)
            }
        }
    }
}

mod transfer;
pub use transfer::Transfer;

#[cfg(test)]
mod tests;
