//! Where commission comes from: who brought whom (referrals, first wins)
//! and the orders of the customers they brought.
//!
//! Hooks for other modules:
//! - [`on_order_paid`] and [`on_order_refunded`] in the transaction that
//!   records a paid order or its refund (koi's orders call them; a shop
//!   without them reports through [`Engine::record_commission_order`]);
//! - [`on_add`] in the transaction that records an add, with its `state`
//!   (a distributor's contact way says `k1d{id}`).

use super::{settings_in, Commission};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::distribution::{self as rules, DistributionSettings, OrderLine};
use koi_store::distribution::NewCommission;
use koi_store::events::NewEvent;
use koi_store::{now_ms, Tx};
use serde::Deserialize;

/// A paid order as distribution sees it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct CommissionOrder {
    /// The shop's order id: an order earns once however often it comes.
    pub order_ref: String,
    /// The buyer (koi's customer id).
    pub customer_id: i64,
    /// When it was paid (ms since the epoch); the refund window runs from here.
    pub paid_at: i64,
    /// Each line's SKU and the amount paid for it, in fen.
    pub lines: Vec<OrderLine>,
}

/// A refund on an order, as distribution sees it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct CommissionRefund {
    /// The order's whole refunded amount so far, in fen (not this refund's
    /// part), so the same refund reported twice changes nothing.
    pub refunded_fen: i64,
}

/// How far up a referrer chain is read: the two levels, and one more to
/// see a loop.
const CHAIN_READ: usize = rules::MAX_LEVELS + 1;

/// The customer who brought `customer_id`: recorded, or (once) their
/// inviter in a distribution campaign, recorded now.
async fn referrer(tx: &mut Tx, corp_id: i64, customer_id: i64, s: &DistributionSettings) -> Result<Option<i64>> {
    if let Some(r) = tx.referrer_of(corp_id, customer_id).await? {
        return Ok(Some(r));
    }
    let campaigns: Vec<i64> = s.campaigns().collect();
    let Some((inviter, _)) = tx.campaign_inviter(corp_id, customer_id, &campaigns).await? else { return Ok(None) };
    Ok(record_referral(tx, corp_id, customer_id, inviter, "campaign").await?.then_some(inviter))
}

/// `customer_id`'s referrers, nearest first, at most [`CHAIN_READ`].
async fn chain(tx: &mut Tx, corp_id: i64, customer_id: i64, s: &DistributionSettings) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(CHAIN_READ);
    let mut at = customer_id;
    while out.len() < CHAIN_READ {
        let Some(r) = referrer(tx, corp_id, at, s).await? else { break };
        out.push(r);
        at = r;
    }
    Ok(out)
}

/// Records that `referrer_id` brought `customer_id`, unless someone did
/// already (the first wins) or it would make a loop. True when recorded.
pub(crate) async fn record_referral(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    referrer_id: i64,
    source: &str,
) -> Result<bool> {
    if tx.referrer_of(corp_id, customer_id).await?.is_some() {
        return Ok(false);
    }
    let mut above = Vec::with_capacity(rules::MAX_LEVELS);
    let mut at = referrer_id;
    while above.len() < rules::MAX_LEVELS {
        let Some(r) = tx.referrer_of(corp_id, at).await? else { break };
        above.push(r);
        at = r;
    }
    if !rules::may_refer(customer_id, referrer_id, &above) {
        return Ok(false);
    }
    let now = now_ms();
    if !tx.record_referral(corp_id, customer_id, referrer_id, source, now).await? {
        return Ok(false);
    }
    let payload = serde_json::json!({ "referrer_id": referrer_id, "source": source });
    tx.append_event(
        &NewEvent {
            corp_id,
            kind: "distribution.referred",
            subject: &format!("customer:{customer_id}"),
            actor: "koi",
            payload: &payload.to_string(),
            dedup_key: Some(&format!("distribution.referred:{customer_id}")),
            occurred_at: now,
        },
        now,
    )
    .await?;
    Ok(true)
}

/// An add through a distributor's contact way (`state` `k1d{id}`) records
/// the distributor as the one who brought the customer. Any other state
/// does nothing.
pub(crate) async fn on_add(tx: &mut Tx, corp_id: i64, state: &str, customer_id: i64) -> Result<()> {
    let Some(distributor_id) = rules::parse_entry_state(state) else { return Ok(()) };
    let Some(d) = tx.distributor_in_tx(corp_id, distributor_id).await? else { return Ok(()) };
    if d.active {
        record_referral(tx, corp_id, customer_id, d.customer_id, "add").await?;
    }
    Ok(())
}

/// Writes the commission a paid order earns its buyer's referrers: level 1
/// and level 2, each a distributor (opted in, or a participant of a
/// campaign with a rate rule), pending until the refund window passes. The
/// same order again earns nothing more. Returns the commissions written.
pub(crate) async fn on_order_paid(tx: &mut Tx, corp_id: i64, order: &CommissionOrder) -> Result<Vec<i64>> {
    let s = settings_in(tx, corp_id).await?;
    if !s.enabled {
        return Ok(Vec::new());
    }
    let chain = chain(tx, corp_id, order.customer_id, &s).await?;
    let paid: i64 = order.lines.iter().map(|l| l.amount_fen.max(0)).sum();
    let now = now_ms();
    let mut written = Vec::new();
    for (level, customer) in rules::beneficiaries(order.customer_id, &chain) {
        let Some(d) = distributor_for(tx, corp_id, customer, &s).await? else { continue };
        if !d.active {
            continue;
        }
        let full = rules::commission_for(&s, level, &order.lines, d.campaign_id);
        if full <= 0 {
            continue;
        }
        let c = NewCommission {
            corp_id,
            order_ref: &order.order_ref,
            level: level as i64,
            distributor_id: d.id,
            buyer_id: order.customer_id,
            paid_fen: paid,
            full_fen: full,
            paid_at: order.paid_at,
            settle_at: order.paid_at.saturating_add(s.window_secs * 1000),
            now,
        };
        if let Some(id) = tx.insert_commission(&c).await? {
            let payload = serde_json::json!({
                "order_ref": order.order_ref, "level": level, "distributor_id": d.id, "amount_fen": full,
            });
            tx.append_event(
                &NewEvent {
                    corp_id,
                    kind: "distribution.commission_earned",
                    subject: &format!("customer:{customer}"),
                    actor: "koi",
                    payload: &payload.to_string(),
                    dedup_key: Some(&format!("distribution.commission:{id}")),
                    occurred_at: now,
                },
                now,
            )
            .await?;
            written.push(id);
        }
    }
    Ok(written)
}

/// The distributor `customer_id` is: their row, or a new one when they
/// take part in a campaign with a rate rule.
async fn distributor_for(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    s: &DistributionSettings,
) -> Result<Option<koi_store::distribution::DistributorRow>> {
    if let Some(d) = tx.distributor_of_customer_in_tx(corp_id, customer_id).await? {
        return Ok(Some(d));
    }
    let campaigns: Vec<i64> = s.campaigns().collect();
    let Some(campaign_id) = tx.participant_campaign(corp_id, customer_id, &campaigns).await? else { return Ok(None) };
    let token = super::new_token();
    let d = tx.ensure_distributor(corp_id, customer_id, &token, "campaign", Some(campaign_id), now_ms()).await?;
    super::entries::queue_entry(tx, corp_id, d.id).await?;
    Ok(Some(d))
}

/// Takes back what a refunded order earned. `refunded_fen` is the order's
/// whole refunded amount so far. A pending commission is cut in proportion
/// to what was kept (cancelled when all came back); a settled, paying or
/// paid one stays as it is and the refunded share is clawed back in a
/// negative entry, settled at once and netted against the distributor's
/// next payout. Each refund total acts once (a replayed notification, a
/// retried job, another node: the commission's booked total says so).
/// Returns the commissions changed or clawed back.
pub(crate) async fn on_order_refunded(tx: &mut Tx, corp_id: i64, order_ref: &str, refunded_fen: i64) -> Result<u64> {
    let now = now_ms();
    let mut changed = 0;
    for c in tx.order_commissions(corp_id, order_ref).await? {
        if c.clawback_of.is_some() || refunded_fen <= c.refunded_fen {
            continue;
        }
        let total = refunded_fen.min(c.paid_fen);
        let Some(state) = rules::CommissionState::parse(&c.state) else { continue };
        if state.refund_cuts() {
            let amount = rules::after_refund(c.full_fen, c.paid_fen, total);
            if tx.refund_commission(c.id, total, amount, now).await? {
                changed += 1;
            }
        } else if state.refund_claws_back() && total > c.refunded_fen {
            let clawed = rules::clawback(c.full_fen, c.paid_fen, c.refunded_fen, total);
            if let Some(id) = tx.claw_back_commission(&c, total, clawed, now).await? {
                let payload = serde_json::json!({
                    "order_ref": order_ref, "level": c.level, "distributor_id": c.distributor_id,
                    "commission_id": c.id, "amount_fen": -clawed,
                });
                tx.append_event(
                    &NewEvent {
                        corp_id,
                        kind: "distribution.commission_clawed_back",
                        subject: &format!("customer:{}", c.buyer_id),
                        actor: "koi",
                        payload: &payload.to_string(),
                        dedup_key: Some(&format!("distribution.clawback:{id}")),
                        occurred_at: now,
                    },
                    now,
                )
                .await?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

impl Engine {
    /// Reports a paid order for commission (a shop whose orders do not
    /// come through koi's orders). The same `order_ref` again changes
    /// nothing. Returns the commissions the order earned.
    pub async fn record_commission_order(&self, who: &Principal, order: CommissionOrder) -> Result<Vec<Commission>> {
        require(who, Action::ManageDistribution)?;
        rules::check_order(&order.order_ref, &order.lines)?;
        if order.paid_at <= 0 {
            return Err(koi_domain::ValidationError::one("paid_at", "required", "paid_at is ms since the epoch").into());
        }
        self.db.customer(who.corp_id, order.customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
        let mut tx = self.db.begin().await?;
        on_order_paid(&mut tx, who.corp_id, &order).await?;
        tx.commit().await?;
        self.order_commissions(who, &order.order_ref).await
    }

    /// Reports a refund on an order reported before; the order's
    /// commissions as they are now.
    pub async fn record_commission_refund(
        &self,
        who: &Principal,
        order_ref: &str,
        refund: CommissionRefund,
    ) -> Result<Vec<Commission>> {
        require(who, Action::ManageDistribution)?;
        if refund.refunded_fen < 0 {
            return Err(koi_domain::ValidationError::one("refunded_fen", "out_of_range", "not negative").into());
        }
        let mut tx = self.db.begin().await?;
        // An order that earned nothing (its buyer was brought by nobody)
        // has nothing to cut: the refund is taken and changes nothing.
        on_order_refunded(&mut tx, who.corp_id, order_ref, refund.refunded_fen).await?;
        tx.commit().await?;
        self.order_commissions(who, order_ref).await
    }
}
