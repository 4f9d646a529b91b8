//! The seam every way an order comes in goes through, inside the caller's
//! transaction: [`ingest_in`] (a new or repeated order), [`refund_in`] (a
//! refund, full or partial) and [`match_waiting_in`] (orders that waited for
//! a customer who has just added).

use super::effects::{after_order, OrderChange, OrderFacts};
use super::ATTRIBUTION_KEY;
use crate::customers::record_behaviour_in;
use crate::{EngineError, Result};
use koi_domain::customer::{Behaviour, ValueRules};
use koi_domain::order::{
    attribute, attribute_campaign, plan_refund, AttributionFacts, AttributionSettings, CampaignTouch, FollowFact,
    MatchKey, NewOrder, NewRefund, OrderStatus,
};
use koi_domain::ValidationError;
use koi_store::orders::{OrderMatch, OrderRow, OrderWrite};
use koi_store::{now_ms, Tx};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Where an order came from (stored as its `source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderSource {
    Api,
    Csv,
    /// koi's own H5 checkout.
    Checkout,
    /// A shop's signed webhook: the integration's id.
    Webhook(i64),
}

impl OrderSource {
    pub fn as_string(&self) -> String {
        match self {
            OrderSource::Api => "api".into(),
            OrderSource::Csv => "csv".into(),
            OrderSource::Checkout => "checkout".into(),
            OrderSource::Webhook(id) => format!("webhook:{id}"),
        }
    }
}

/// What ingesting an order did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    pub order_id: i64,
    /// False when the corp had this shop order id already: nothing counted
    /// again (a later status — shipped, done — is taken).
    pub created: bool,
    /// The customer it counts for; `None` while it waits for one.
    pub customer_id: Option<i64>,
    /// The key that matched.
    pub matched_by: Option<String>,
    pub staff_id: Option<i64>,
    /// The attribution rule that decided (`none` when none did).
    pub rule: String,
}

/// What recording a refund did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundOutcome {
    pub order_id: i64,
    /// False when this refund id was on record already (nothing changed).
    pub recorded: bool,
    /// Fen this refund gave back (0 for a repeat).
    pub fen: i64,
    pub refunded_fen: i64,
    pub status: String,
}

/// The hex SHA-256 of a mobile number's digits: how shops send phones.
pub(crate) fn phone_hash(mobile: &str) -> String {
    let digits: String = mobile.chars().filter(char::is_ascii_digit).collect();
    let digits = if digits.len() > 11 { &digits[digits.len() - 11..] } else { &digits[..] };
    hex::encode(Sha256::digest(digits.as_bytes()))
}

pub(crate) async fn attribution_settings_in(tx: &mut Tx, corp_id: i64) -> Result<AttributionSettings> {
    match tx.corp_setting_in(corp_id, ATTRIBUTION_KEY).await? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| EngineError::Unavailable(format!("stored attribution rules of corp {corp_id}: {e}"))),
        None => Ok(AttributionSettings::default()),
    }
}

async fn value_rules_in(tx: &mut Tx, corp_id: i64) -> Result<ValueRules> {
    match tx.corp_setting_in(corp_id, crate::customers::VALUE_RULES_KEY).await? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| EngineError::Unavailable(format!("stored value rules of corp {corp_id}: {e}"))),
        None => Ok(ValueRules::default()),
    }
}

/// Records an order inside `tx`: the order and its items once per shop
/// order id, its customer found by its keys in [`MatchKey::ALL`] order, its
/// attribution, and — when it has a customer — the `order_placed`
/// behaviour (counters, stage, RFM, tag rules, timeline) with the order as
/// reference, then [`after_order`]. An order without a customer yet waits
/// and is matched when one with its key adds ([`match_waiting_in`]).
/// A repeat changes nothing but a later status (shipped, done).
pub(crate) async fn ingest_in(
    tx: &mut Tx,
    corp_id: i64,
    order: &NewOrder,
    source: OrderSource,
) -> Result<IngestOutcome> {
    let now = now_ms();
    let store_id = match order.store_code.as_str() {
        "" => None,
        code => tx.store_id_by_code(corp_id, code).await?,
    };
    let source = source.as_string();
    let k = &order.customer;
    let write = OrderWrite {
        shop_order_id: &order.shop_order_id,
        source: &source,
        ordered_at: order.ordered_at,
        store_code: &order.store_code,
        store_id,
        amount_fen: order.amount_fen,
        paid_fen: order.paid_fen,
        status: order.status.as_str(),
        unionid: &k.unionid,
        phone_hash: &k.phone_hash,
        external_userid: &k.external_userid,
        member_id: &k.member_id,
        coupon_guide: &order.coupon_guide,
    };
    let Some(order_id) = tx.insert_order(corp_id, &write, now).await? else {
        let row = tx.order_by_shop_id(corp_id, &order.shop_order_id).await?.ok_or(EngineError::NotFound("order"))?;
        if !order.status.by_refund() {
            tx.advance_order_status(corp_id, row.id, order.status.as_str(), now).await?;
        }
        return Ok(outcome_of(&row, false));
    };
    for (i, it) in order.items.iter().enumerate() {
        let line = i32::try_from(i).expect("at most MAX_ITEMS lines");
        tx.insert_order_item(order_id, line, &it.sku, &it.name, it.qty, it.price_fen).await?;
    }
    let mut found = None;
    for (key, value) in k.in_order() {
        if let Some(customer_id) = tx.customer_by_order_key(corp_id, key.as_str(), value).await? {
            found = Some((customer_id, key));
            break;
        }
    }
    let row = tx.order_row(corp_id, order_id).await?.ok_or(EngineError::NotFound("order"))?;
    match found {
        Some((customer_id, key)) => {
            let row = count_for(tx, corp_id, row, customer_id, key).await?;
            Ok(outcome_of(&row, true))
        }
        None => {
            // No customer yet: the coupon's guide or the store's guide on
            // duty may still decide; the lock and the guides' adds wait.
            let settings = attribution_settings_in(tx, corp_id).await?;
            let coupon_guide = coupon_guide_id(tx, corp_id, &row.coupon_guide).await?;
            let facts =
                AttributionFacts { ordered_at: row.ordered_at, store_id: row.store_id, follows: vec![], coupon_guide };
            let a = attribute(&settings, &facts);
            tx.set_order_attribution(corp_id, order_id, a.staff_id, a.store_id, a.rule).await?;
            let row = tx.order_row(corp_id, order_id).await?.ok_or(EngineError::NotFound("order"))?;
            Ok(outcome_of(&row, true))
        }
    }
}

fn outcome_of(row: &OrderRow, created: bool) -> IngestOutcome {
    IngestOutcome {
        order_id: row.id,
        created,
        customer_id: row.customer_id,
        matched_by: row.matched_by.clone(),
        staff_id: row.staff_id,
        rule: row.rule.clone(),
    }
}

async fn coupon_guide_id(tx: &mut Tx, corp_id: i64, userid: &str) -> Result<Option<i64>> {
    if userid.is_empty() {
        return Ok(None);
    }
    Ok(tx.staff_id_by_userid(corp_id, userid).await?)
}

/// Makes a waiting order count for `customer_id`: attribution with the
/// customer's follows, the match (once), the keys learnt, the behaviour
/// and the effects — a refund taken while it waited included.
async fn count_for(tx: &mut Tx, corp_id: i64, row: OrderRow, customer_id: i64, key: MatchKey) -> Result<OrderRow> {
    let now = now_ms();
    let settings = attribution_settings_in(tx, corp_id).await?;
    let follows = tx
        .follow_facts(corp_id, customer_id)
        .await?
        .into_iter()
        .map(|f| FollowFact {
            staff_id: f.staff_id,
            added_at: f.added_at,
            deleted_at: f.deleted_at,
            store_id: f.store_id,
            code_id: f.code_id,
        })
        .collect();
    let coupon_guide = coupon_guide_id(tx, corp_id, &row.coupon_guide).await?;
    // The order's own store, not one attribution guessed while it waited.
    let own_store = match row.store_code.as_str() {
        "" => None,
        code => tx.store_id_by_code(corp_id, code).await?,
    };
    let facts = AttributionFacts { ordered_at: row.ordered_at, store_id: own_store, follows, coupon_guide };
    let a = attribute(&settings, &facts);
    let activity = tx.customer_activity(corp_id, customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
    let first_order = activity.orders <= 0;
    let m = OrderMatch {
        customer_id,
        matched_by: key.as_str(),
        staff_id: a.staff_id,
        store_id: a.store_id,
        code_id: a.code_id,
        rule: a.rule,
        first_order,
    };
    if !tx.match_order(corp_id, row.id, &m, now).await? {
        // Matched by another transaction meanwhile: it counted there.
        return tx.order_row(corp_id, row.id).await?.ok_or(EngineError::NotFound("order"));
    }
    for (kind, value) in [(MatchKey::PhoneHash, &row.phone_hash), (MatchKey::MemberId, &row.member_id)] {
        if !value.is_empty() {
            tx.learn_order_key(corp_id, kind.as_str(), value, customer_id, now).await?;
        }
    }
    // The campaign it counts for: its reward coupon's, else the one the
    // customer came through within the window.
    let coupon_campaign = tx.coupon_campaign(corp_id, customer_id, &row.shop_order_id).await?;
    let touches: Vec<CampaignTouch> = tx
        .campaign_touches(corp_id, customer_id)
        .await?
        .into_iter()
        .map(|t| CampaignTouch { campaign_id: t.campaign_id, at: t.at })
        .collect();
    if let Some(c) = attribute_campaign(row.ordered_at, settings.campaign_window_days, coupon_campaign, &touches) {
        tx.set_order_campaign(corp_id, row.id, Some(c.campaign_id), c.rule).await?;
    }
    let rules = value_rules_in(tx, corp_id).await?;
    let reference = format!("order:{}", row.id);
    let placed = Behaviour::OrderPlaced { amount_fen: row.paid_fen };
    record_behaviour_in(tx, corp_id, customer_id, &placed, row.ordered_at, &reference, "shop", &rules).await?;
    let row = tx.order_row(corp_id, row.id).await?.ok_or(EngineError::NotFound("order"))?;
    let facts = facts_of(&row, customer_id);
    after_order(tx, corp_id, &facts, OrderChange::Paid).await?;
    if row.refunded_fen > 0 || row.status == OrderStatus::Refunded.as_str() {
        let whole = row.status == OrderStatus::Refunded.as_str();
        let refunded = Behaviour::OrderRefunded { amount_fen: row.refunded_fen, whole };
        let reference = format!("order:{}:refunds-while-waiting", row.id);
        record_behaviour_in(tx, corp_id, customer_id, &refunded, now, &reference, "shop", &rules).await?;
        after_order(tx, corp_id, &facts, OrderChange::Refunded { fen: row.refunded_fen, whole }).await?;
    }
    Ok(row)
}

fn facts_of(row: &OrderRow, customer_id: i64) -> OrderFacts {
    OrderFacts {
        order_id: row.id,
        shop_order_id: row.shop_order_id.clone(),
        customer_id,
        staff_id: row.staff_id,
        store_id: row.store_id,
        code_id: row.code_id,
        paid_fen: row.paid_fen,
        refunded_fen: row.refunded_fen,
        ordered_at: row.ordered_at,
        first_order: row.first_order,
    }
}

/// Records a refund of the corp's order `shop_order_id` inside `tx`: never
/// more than is left of what was paid; the same refund id again changes
/// nothing. A counted order's customer gets the `order_refunded` behaviour
/// (`whole` for the last fen, which takes the order off their count and
/// their stage back), then [`after_order`].
pub(crate) async fn refund_in(
    tx: &mut Tx,
    corp_id: i64,
    shop_order_id: &str,
    refund: &NewRefund,
) -> Result<RefundOutcome> {
    let now = now_ms();
    let row = tx.order_by_shop_id(corp_id, shop_order_id).await?.ok_or(EngineError::NotFound("order"))?;
    if tx.refund_recorded(row.id, &refund.refund_id).await? {
        return Ok(RefundOutcome {
            order_id: row.id,
            recorded: false,
            fen: 0,
            refunded_fen: row.refunded_fen,
            status: row.status,
        });
    }
    let refused = |e: koi_domain::order::RefundError| {
        EngineError::Invalid(ValidationError::one("amount_fen", e.code(), e.to_string()))
    };
    if row.status == OrderStatus::Refunded.as_str() {
        return Err(refused(koi_domain::order::RefundError::NothingLeft));
    }
    let plan = plan_refund(row.paid_fen, row.refunded_fen, refund.amount_fen).map_err(refused)?;
    if tx.insert_refund(corp_id, row.id, &refund.refund_id, plan.fen, &refund.reason, now).await?.is_none() {
        return Err(EngineError::Conflict { what: "refund" });
    }
    if !tx.set_order_refunded(corp_id, row.id, row.refunded_fen, plan.refunded_fen, plan.status.as_str(), now).await? {
        // Another refund moved the order meanwhile; the caller may retry.
        return Err(EngineError::Conflict { what: "refund" });
    }
    if let Some(customer_id) = row.customer_id {
        let rules = value_rules_in(tx, corp_id).await?;
        let b = Behaviour::OrderRefunded { amount_fen: plan.fen, whole: plan.full };
        let reference = format!("order:{}:refund:{}", row.id, refund.refund_id);
        record_behaviour_in(tx, corp_id, customer_id, &b, now, &reference, "shop", &rules).await?;
        let after = tx.order_row(corp_id, row.id).await?.ok_or(EngineError::NotFound("order"))?;
        after_order(
            tx,
            corp_id,
            &facts_of(&after, customer_id),
            OrderChange::Refunded { fen: plan.fen, whole: plan.full },
        )
        .await?;
    }
    Ok(RefundOutcome {
        order_id: row.id,
        recorded: true,
        fen: plan.fen,
        refunded_fen: plan.refunded_fen,
        status: plan.status.as_str().into(),
    })
}

/// Matches the orders waiting for a customer who has just been added (or
/// whose keys koi has just learnt), inside the add's transaction: the
/// customer's unionid, their WeCom id and the phones their guides noted
/// (hashed) are the keys. Returns how many orders now count for them.
pub(crate) async fn match_waiting_in(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    unionid: &str,
    external_userid: &str,
) -> Result<u32> {
    let mobiles = tx.remark_mobiles_of(corp_id, customer_id).await?;
    let hashes: Vec<String> = mobiles.iter().map(|m| phone_hash(m)).collect();
    let mut keys: Vec<(&str, &str)> = vec![("unionid", unionid), ("external_userid", external_userid)];
    keys.extend(hashes.iter().map(|h| ("phone_hash", h.as_str())));
    let waiting = tx.waiting_orders(corp_id, &keys).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    for h in &hashes {
        tx.learn_order_key(corp_id, MatchKey::PhoneHash.as_str(), h, customer_id, now).await?;
    }
    let mut n = 0;
    for id in waiting {
        let Some(row) = tx.order_row(corp_id, id).await? else { continue };
        if row.customer_id.is_some() {
            continue;
        }
        // The strongest key this order shares with the customer.
        let key = MatchKey::ALL
            .into_iter()
            .find(|k| {
                let v = match k {
                    MatchKey::Unionid => &row.unionid,
                    MatchKey::PhoneHash => &row.phone_hash,
                    MatchKey::ExternalUserid => &row.external_userid,
                    MatchKey::MemberId => &row.member_id,
                };
                !v.is_empty() && keys.iter().any(|(kind, val)| *kind == k.as_str() && val == v)
            })
            .unwrap_or(MatchKey::ExternalUserid);
        count_for(tx, corp_id, row, customer_id, key).await?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_hash_by_their_last_eleven_digits() {
        assert_eq!(phone_hash("138 0013 8000"), phone_hash("+86 13800138000"));
        assert_eq!(phone_hash("13800138000").len(), 64);
    }
}
