//! WeChat Pay's payment notification (`POST /pay/notify/{corp}`): the
//! signature is checked with the corp's merchant key before anything else
//! (a forged notification is refused and changes nothing), the checkout is
//! found by `out_trade_no` within the corp, the amount must be the
//! checkout's, and the checkout moves created → paid by a conditional
//! update: a notification that comes twice (or after a query marked it
//! paid) counts once. A paid checkout becomes an order
//! ([`crate::orders::ingest_in`], source `checkout`) in the same transaction.

use super::log;
use crate::orders::{ingest_in, OrderSource};
use crate::{Engine, EngineError, Result};
use koi_domain::order::{CustomerKeys, NewOrder, OrderItem, OrderStatus};
use koi_domain::ValidationError;
use koi_store::checkouts::CheckoutRow;
use koi_store::{now_ms, Tx};
use koi_wecom::pay::{parse_notification, NotifyError};

/// What a notification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// The checkout is paid now.
    Paid,
    /// It was paid before: nothing changed.
    Repeat,
    /// WeChat says the payment failed: nothing changed (the sweep closes it).
    NotPaid,
}

/// Marks a waiting checkout paid and records its order, inside `tx`;
/// false when it was not waiting (nothing changes).
pub(crate) async fn paid_in(
    tx: &mut Tx,
    k: &CheckoutRow,
    external_userid: &str,
    transaction_id: &str,
    via: &str,
) -> Result<bool> {
    let now = now_ms();
    if !tx.mark_checkout_paid(k.id, transaction_id, now, now).await? {
        return Ok(false);
    }
    let items = tx
        .checkout_items_in(k.id)
        .await?
        .into_iter()
        .map(|i| OrderItem { sku: i.sku, name: i.name, qty: i.qty, price_fen: i.unit_fen })
        .collect();
    let order = NewOrder {
        shop_order_id: k.out_trade_no.clone(),
        ordered_at: now,
        store_code: String::new(),
        items,
        amount_fen: k.total_fen,
        paid_fen: k.total_fen,
        status: OrderStatus::Paid,
        customer: CustomerKeys { external_userid: external_userid.to_owned(), ..CustomerKeys::default() },
        coupon_guide: String::new(),
    };
    let outcome = ingest_in(tx, k.corp_id, &order, OrderSource::Checkout).await?;
    let payload = serde_json::json!({
        "out_trade_no": k.out_trade_no, "transaction_id": transaction_id, "total_fen": k.total_fen,
        "order_id": outcome.order_id, "via": via,
    });
    log(tx, k.corp_id, "checkout.paid", format!("customer:{}", k.customer_id), "wechat_pay", payload).await?;
    Ok(true)
}

impl Engine {
    /// Takes one payment notification for the corp `corp_id`. Errors:
    /// `bad_signature` (forged or not the corp's merchant), `NotFound` (no
    /// such checkout), `Invalid` (the amount differs) — each changes nothing.
    pub async fn receive_pay_notification(&self, corp_id: i64, body: &str) -> Result<NotifyOutcome> {
        let forged = |message: String| EngineError::BadCallback { code: "bad_signature", message };
        let merchant = self.notified_merchant(corp_id).await?;
        let n = parse_notification(body, &merchant.api_key).map_err(|e| match e {
            NotifyError::BadSign => forged(e.to_string()),
            other => EngineError::BadCallback { code: "bad_notification", message: other.to_string() },
        })?;
        if n.mch_id != merchant.mch_id {
            return Err(forged(format!("mch_id {} is not this corp's merchant", n.mch_id)));
        }
        let k = self
            .db
            .checkout_by_trade_no(&n.out_trade_no)
            .await?
            .filter(|k| k.corp_id == corp_id)
            .ok_or(EngineError::NotFound("checkout"))?;
        if n.result_code != "SUCCESS" {
            return Ok(NotifyOutcome::NotPaid);
        }
        if n.total_fee != k.total_fen {
            tracing::error!(out_trade_no = %k.out_trade_no, paid = n.total_fee, due = k.total_fen, "a payment of the wrong amount");
            return Err(
                ValidationError::one("total_fee", "amount_mismatch", "the amount paid is not the checkout's").into()
            );
        }
        let customer = self.db.customer(corp_id, k.customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
        let mut tx = self.db.begin().await?;
        let paid = paid_in(&mut tx, &k, &customer.external_userid, &n.transaction_id, "notification").await?;
        tx.commit().await?;
        Ok(if paid { NotifyOutcome::Paid } else { NotifyOutcome::Repeat })
    }
}
