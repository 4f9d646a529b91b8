//! 企业付款到零钱 for commission payouts: [`Engine::pay_transfer`] pays
//! one amount into a customer's WeChat change, with their openid from
//! WeCom (`convert_to_openid`) and the corp's pay settings, like a red
//! packet. The caller passes the same `partner_trade_no` on every retry.

use super::PayError;
use crate::Engine;
use koi_wecom::client::{ConvertToOpenidRequest, Priority};
use koi_wecom::pay::{Merchant, TransferRequest, DEFAULT_PAY_BASE_URL, MIN_TRANSFER_FEN};

/// One transfer to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// ≤32 letters and digits, fixed by the caller's ledger row.
    pub partner_trade_no: String,
    pub external_userid: String,
    pub amount_fen: i64,
    /// What the customer sees (≤100 characters).
    pub desc: String,
}

impl Engine {
    /// Pays one transfer; WeChat's `payment_no` when paid (now or by an
    /// earlier attempt with the same number). Called from a job's
    /// `prepare`, outside any transaction.
    pub(crate) async fn pay_transfer(&self, corp_id: i64, req: &Transfer) -> Result<String, PayError> {
        let refused = |code: &str, why: String| PayError::Refused { code: code.into(), reason: why };
        let settings = self
            .db
            .pay_settings(corp_id)
            .await
            .map_err(|e| PayError::RetrySameBillno(format!("database: {e}")))?
            .filter(|s| s.enabled && !s.api_key.is_empty())
            .ok_or_else(|| refused("not_configured", "WeChat Pay is not set up for this corp".into()))?;
        if !koi_wecom::pay::valid_trade_no(&req.partner_trade_no)
            || req.amount_fen < MIN_TRANSFER_FEN
            || req.desc.trim().is_empty()
            || req.desc.chars().count() > 100
        {
            return Err(refused(
                "invalid",
                format!("a transfer of {} fen that WeChat Pay would refuse", req.amount_fen),
            ));
        }
        let wecom = self.wecom_for(corp_id).await.map_err(|e| PayError::RetrySameBillno(e.to_string()))?;
        let convert = ConvertToOpenidRequest { external_userid: req.external_userid.clone() };
        let openid = match wecom.convert_to_openid(&convert, Priority::Bulk).await {
            Ok(answer) if !answer.openid.is_empty() => answer.openid,
            Ok(_) => return Err(PayError::RetrySameBillno("convert_to_openid answered no openid".into())),
            Err(e) if e.is_final() => return Err(refused("wecom_refused", e.to_string())),
            Err(e) => return Err(PayError::RetrySameBillno(e.to_string())),
        };
        let merchant = Merchant {
            base_url: if settings.base_url.is_empty() { DEFAULT_PAY_BASE_URL.to_owned() } else { settings.base_url },
            mch_id: settings.mch_id,
            wxappid: settings.wxappid,
            api_key: settings.api_key,
            workwx_secret: settings.workwx_secret,
        };
        let transfer = TransferRequest {
            partner_trade_no: req.partner_trade_no.clone(),
            openid,
            amount: req.amount_fen,
            desc: req.desc.trim().to_owned(),
        };
        match self.pay.transfer(&merchant, &transfer).await {
            Ok(done) => Ok(done.payment_no),
            Err(e) => {
                let e = PayError::from(e);
                if matches!(e, PayError::RetryLater { .. }) {
                    tracing::warn!(corp_id, trade_no = %req.partner_trade_no, error = %e, "payout waits for the operator");
                }
                Err(e)
            }
        }
    }
}
