//! Points (积分) and the points mall.
//!
//! | item | what |
//! |---|---|
//! | rules | points per yuan, check-in, review, days points last ([`PointsRules`]) |
//! | ledger | [`earn_in`] and [`take_in`] in the caller's transaction: every write moves the customer's balance row first (never below zero), earns are lots, take-backs and spends take the oldest lots first (`koi_domain::coupon::points`) |
//! | orders (seam) | [`earn_for_order`] once per order; [`reverse_for_order`] takes back the refunded share, never below zero, recording the shortfall |
//! | expiry | [`expire_in`], from the coupon timer |
//! | check-in, review | `earn.rs`: [`Engine::wallet_checkin`] once a Shanghai day with the streak bonus, [`Engine::review_order`] / [`Engine::wallet_review`] once a done order |
//! | mall | items (a coupon of a template, or a gift) for points with a stock; [`Engine::exchange`] spends points, takes stock and issues the coupon or a gift code in one transaction, once per request key |
//!
//! Invariant (a conformance case and the e2e test hold it): a customer's
//! balance is the sum of their ledger and the sum of what is left of their
//! lots, and never negative.

mod earn;

pub use earn::{Checkin, Review, Reviewable};

use crate::coupons::{coupon_code, issue_in};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::coupon::points::{self as rules, check_adjust, take_fifo, EntryKind, Lot, PointsRules};
use koi_domain::error::Checker;
use koi_domain::ValidationError;
use koi_store::coupons::{ExchangeRow, Issued, ItemWrite, LedgerRow, MallItemRow, NewEntry, PointsRulesRow};
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

pub const LEDGER_LIMIT: i64 = 500;
pub const MAX_ITEM_NAME_CHARS: usize = 40;

fn invalid(field: &str, code: &str, message: impl Into<String>) -> EngineError {
    ValidationError::one(field, code, message).into()
}

/// One ledger entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: i64,
    pub customer_id: i64,
    /// Signed.
    pub points: i64,
    /// order, refund, campaign, checkin, review, exchange, expire, adjust.
    pub kind: String,
    pub reason: String,
    /// The order, reward or exchange.
    pub reference: String,
    /// Earns: points of this entry not spent nor expired yet.
    pub left: i64,
    pub expires_at: Option<i64>,
    /// Take-backs: points that could not be taken (already spent).
    pub shortfall: i64,
    pub created_by: String,
    pub created_at: i64,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(r: LedgerRow) -> Self {
        LedgerEntry {
            id: r.id,
            customer_id: r.customer_id,
            points: r.points,
            kind: r.kind,
            reason: r.reason,
            reference: r.reference,
            left: r.lot_left,
            expires_at: r.expires_at,
            shortfall: r.shortfall,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

/// A customer's points.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointsAccount {
    pub customer_id: i64,
    pub balance: i64,
    /// Newest first, at most 500.
    pub ledger: Vec<LedgerEntry>,
}

/// A points mall item as the operator writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MallItemDraft {
    pub name: String,
    /// coupon or gift.
    pub kind: String,
    /// Coupon items: the template issued.
    #[serde(default)]
    pub template_id: Option<i64>,
    /// Gift items: what is handed over.
    #[serde(default)]
    pub gift: String,
    /// The points price.
    pub points: i64,
    /// None: no bound.
    #[serde(default)]
    pub stock: Option<i64>,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MallItem {
    pub id: i64,
    #[serde(flatten)]
    pub draft: MallItemDraft,
    pub exchanged: i64,
    /// Units left (None: no bound).
    pub left: Option<i64>,
}

impl From<MallItemRow> for MallItem {
    fn from(r: MallItemRow) -> Self {
        MallItem {
            id: r.id,
            left: r.stock.map(|s| (s - r.exchanged).max(0)),
            exchanged: r.exchanged,
            draft: MallItemDraft {
                name: r.name,
                kind: r.kind,
                template_id: r.template_id,
                gift: r.gift,
                points: r.points,
                stock: r.stock,
                archived: r.archived,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Exchange {
    pub id: i64,
    pub item_id: i64,
    pub item_name: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub points: i64,
    /// Coupon items: the coupon issued.
    pub coupon_id: Option<i64>,
    /// Gift items: the code to show in a store.
    pub gift_code: Option<String>,
    pub created_at: i64,
}

impl From<ExchangeRow> for Exchange {
    fn from(r: ExchangeRow) -> Self {
        Exchange {
            id: r.id,
            item_id: r.item_id,
            item_name: r.item_name,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            points: r.points,
            coupon_id: r.coupon_id,
            gift_code: r.gift_code,
            created_at: r.created_at,
        }
    }
}

fn rules_of(r: Option<PointsRulesRow>) -> PointsRules {
    r.map(|r| PointsRules {
        per_yuan: r.per_yuan,
        checkin: r.checkin,
        review: r.review,
        expire_days: r.expire_days,
        streak_days: r.streak_days,
        streak_bonus: r.streak_bonus,
    })
    .unwrap_or_default()
}

/// Books an earn of `points` (> 0) as a lot; `None` when this earn (kind
/// and ref: an order, a reward, an exchange) was booked before.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn earn_in(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    points: i64,
    kind: EntryKind,
    reason: &str,
    reference: &str,
    amount_fen: i64,
    by: &str,
    now: i64,
) -> Result<Option<i64>> {
    if points <= 0 {
        return Ok(None);
    }
    // The account's row first: it serialises this customer's ledger writes.
    tx.move_points_balance(corp_id, customer_id, 0, now).await?;
    let expires_at = rules_of(tx.points_rules_in_tx(corp_id).await?).expires_at(now);
    let e = NewEntry {
        corp_id,
        customer_id,
        points,
        kind: kind.as_str(),
        reason,
        reference,
        amount_fen,
        expires_at,
        shortfall: 0,
        created_by: by,
        now,
    };
    let Some(id) = tx.insert_ledger_entry(&e).await? else { return Ok(None) };
    tx.move_points_balance(corp_id, customer_id, points, now).await?;
    Ok(Some(id))
}

/// Takes `want` points from the customer's oldest lots. `all_or_nothing`
/// (a spend, a negative adjustment) refuses when the balance is short;
/// otherwise (a take-back) it takes what is left and records the
/// shortfall. Returns (taken, shortfall).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn take_in(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    want: i64,
    kind: EntryKind,
    reason: &str,
    reference: &str,
    amount_fen: i64,
    by: &str,
    all_or_nothing: bool,
    now: i64,
) -> Result<(i64, i64)> {
    tx.move_points_balance(corp_id, customer_id, 0, now).await?;
    let balance = tx.points_balance_in_tx(corp_id, customer_id).await?;
    if all_or_nothing && want > balance {
        return Err(invalid("points", "insufficient_points", format!("the balance is {balance} points")));
    }
    let lots: Vec<Lot> = tx
        .points_lots(corp_id, customer_id)
        .await?
        .into_iter()
        .map(|(id, earned_at, left, _)| Lot { id, earned_at, left })
        .collect();
    let (takes, shortfall) = take_fifo(&lots, want);
    let taken: i64 = takes.iter().map(|(_, t)| t).sum();
    for (lot, t) in takes {
        if !tx.take_from_lot(lot, t).await? {
            return Err(EngineError::Conflict { what: "points ledger" });
        }
    }
    if taken == 0 && shortfall == 0 {
        return Ok((0, 0));
    }
    if !tx.move_points_balance(corp_id, customer_id, -taken, now).await? {
        return Err(EngineError::Conflict { what: "points ledger" });
    }
    let e = NewEntry {
        corp_id,
        customer_id,
        points: -taken,
        kind: kind.as_str(),
        reason,
        reference,
        amount_fen,
        expires_at: None,
        shortfall,
        created_by: by,
        now,
    };
    tx.insert_ledger_entry(&e).await?;
    Ok((taken, shortfall))
}

/// Expires what is left of a customer's lots past their date.
pub(crate) async fn expire_in(tx: &mut Tx, corp_id: i64, customer_id: i64, now: i64) -> Result<i64> {
    tx.move_points_balance(corp_id, customer_id, 0, now).await?;
    let lots: Vec<(Lot, Option<i64>)> = tx
        .points_lots(corp_id, customer_id)
        .await?
        .into_iter()
        .map(|(id, earned_at, left, exp)| (Lot { id, earned_at, left }, exp))
        .collect();
    let gone = rules::expired(&lots, now);
    let total: i64 = gone.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Ok(0);
    }
    for (lot, n) in gone {
        tx.take_from_lot(lot, n).await?;
    }
    tx.move_points_balance(corp_id, customer_id, -total, now).await?;
    let e = NewEntry {
        corp_id,
        customer_id,
        points: -total,
        kind: EntryKind::Expire.as_str(),
        reason: "",
        reference: "",
        amount_fen: 0,
        expires_at: None,
        shortfall: 0,
        created_by: "koi",
        now,
    };
    tx.insert_ledger_entry(&e).await?;
    Ok(total)
}

/// SEAM for orders: an order paid `paid_fen` earns points by the corp's
/// rate, once per (customer, order). Returns the points earned (0 when
/// booked before or the rate is 0).
pub(crate) async fn earn_for_order(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    order_ref: &str,
    paid_fen: i64,
) -> Result<i64> {
    let points = rules_of(tx.points_rules_in_tx(corp_id).await?).for_order(paid_fen);
    let booked =
        earn_in(tx, corp_id, customer_id, points, EntryKind::Order, "", order_ref, paid_fen, "koi", now_ms()).await?;
    Ok(if booked.is_some() { points } else { 0 })
}

/// SEAM for orders: after a refund, takes back the refunded share of what
/// the order earned. `refunded_fen` is the order's refunded total so far
/// (so calling again with the same total takes nothing more). Never below
/// zero: points already spent are recorded as the shortfall. Returns
/// (taken, shortfall) of this call.
pub(crate) async fn reverse_for_order(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    order_ref: &str,
    refunded_fen: i64,
) -> Result<(i64, i64)> {
    let Some((earned, paid)) = tx.order_earn(corp_id, customer_id, order_ref).await? else { return Ok((0, 0)) };
    let target = rules::refund_share(earned, paid, refunded_fen);
    let done = tx.order_taken_back(corp_id, customer_id, order_ref).await?;
    let need = target - done;
    if need <= 0 {
        return Ok((0, 0));
    }
    take_in(tx, corp_id, customer_id, need, EntryKind::Refund, "", order_ref, refunded_fen, "koi", false, now_ms())
        .await
}

fn check_item(d: &MallItemDraft) -> Result<MallItemDraft, ValidationError> {
    let mut c = Checker::default();
    let name = c.text("name", &d.name, MAX_ITEM_NAME_CHARS, true);
    let gift = c.text("gift", &d.gift, 60, d.kind == "gift");
    match d.kind.as_str() {
        "coupon" if d.template_id.is_none() => c.push("template_id", "required", "choose the coupon template"),
        "coupon" | "gift" => {}
        _ => c.push("kind", "unknown_kind", "coupon or gift"),
    }
    if !(1..=rules::MAX_ENTRY).contains(&d.points) {
        c.push("points", "out_of_range", format!("1..={} points", rules::MAX_ENTRY));
    }
    if d.stock.is_some_and(|s| !(0..=10_000_000).contains(&s)) {
        c.push("stock", "out_of_range", "stock is 0..=10000000");
    }
    c.finish(MallItemDraft {
        name,
        kind: d.kind.clone(),
        template_id: if d.kind == "coupon" { d.template_id } else { None },
        gift: if d.kind == "gift" { gift } else { String::new() },
        points: d.points,
        stock: d.stock,
        archived: d.archived,
    })
}

impl Engine {
    pub async fn points_rules(&self, who: &Principal) -> Result<PointsRules> {
        require(who, Action::ViewCoupons)?;
        Ok(rules_of(self.db.points_rules(who.corp_id).await?))
    }

    pub async fn set_points_rules(&self, who: &Principal, r: &PointsRules) -> Result<PointsRules> {
        require(who, Action::ManageCoupons)?;
        let r = r.validate()?;
        let row = PointsRulesRow {
            per_yuan: r.per_yuan,
            checkin: r.checkin,
            review: r.review,
            expire_days: r.expire_days,
            streak_days: r.streak_days,
            streak_bonus: r.streak_bonus,
        };
        let mut tx = self.db.begin().await?;
        tx.set_points_rules(who.corp_id, &row, now_ms()).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// A customer's balance and ledger.
    pub async fn points_account(&self, who: &Principal, customer_id: i64) -> Result<PointsAccount> {
        require(who, Action::ViewCoupons)?;
        self.customer(who, customer_id).await?;
        let balance = self.db.points_balance(who.corp_id, customer_id).await?;
        let ledger = self.db.points_ledger(who.corp_id, Some(customer_id), LEDGER_LIMIT).await?;
        Ok(PointsAccount { customer_id, balance, ledger: ledger.into_iter().map(Into::into).collect() })
    }

    /// The corp's latest ledger entries.
    pub async fn points_ledger(&self, who: &Principal) -> Result<Vec<LedgerEntry>> {
        require(who, Action::ViewCoupons)?;
        Ok(self.db.points_ledger(who.corp_id, None, LEDGER_LIMIT).await?.into_iter().map(Into::into).collect())
    }

    /// Adds or takes points by hand, with a reason; never below zero.
    pub async fn adjust_points(
        &self,
        who: &Principal,
        customer_id: i64,
        points: i64,
        reason: &str,
    ) -> Result<PointsAccount> {
        require(who, Action::ManageCoupons)?;
        let reason = check_adjust(points, reason)?;
        self.customer(who, customer_id).await?;
        let by = actor(who);
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        if points > 0 {
            earn_in(&mut tx, who.corp_id, customer_id, points, EntryKind::Adjust, &reason, "", 0, &by, now).await?;
        } else {
            take_in(&mut tx, who.corp_id, customer_id, -points, EntryKind::Adjust, &reason, "", 0, &by, true, now)
                .await?;
        }
        tx.commit().await?;
        self.points_account(who, customer_id).await
    }

    pub async fn mall_items(&self, who: &Principal) -> Result<Vec<MallItem>> {
        require(who, Action::ViewCoupons)?;
        Ok(self.db.mall_items(who.corp_id).await?.into_iter().map(Into::into).collect())
    }

    pub async fn mall_item(&self, who: &Principal, id: i64) -> Result<MallItem> {
        require(who, Action::ViewCoupons)?;
        Ok(self.db.mall_item(who.corp_id, id).await?.ok_or(EngineError::NotFound("mall item"))?.into())
    }

    async fn item_write(&self, who: &Principal, d: &MallItemDraft) -> Result<MallItemDraft> {
        let d = check_item(d)?;
        if let Some(t) = d.template_id {
            if self.db.coupon_template(who.corp_id, t).await?.is_none() {
                return Err(invalid("template_id", "unknown_template", "no such coupon template"));
            }
        }
        Ok(d)
    }

    pub async fn create_mall_item(&self, who: &Principal, d: &MallItemDraft) -> Result<MallItem> {
        require(who, Action::ManageCoupons)?;
        let d = self.item_write(who, d).await?;
        let mut tx = self.db.begin().await?;
        let w = ItemWrite {
            name: &d.name,
            kind: &d.kind,
            template_id: d.template_id,
            gift: &d.gift,
            points: d.points,
            stock: d.stock,
            archived: d.archived,
            now: now_ms(),
        };
        let id = tx.insert_mall_item(who.corp_id, &w).await?;
        tx.commit().await?;
        Ok(self.db.mall_item(who.corp_id, id).await?.ok_or(EngineError::NotFound("mall item"))?.into())
    }

    pub async fn update_mall_item(&self, who: &Principal, id: i64, d: &MallItemDraft) -> Result<MallItem> {
        require(who, Action::ManageCoupons)?;
        let d = self.item_write(who, d).await?;
        let old = self.db.mall_item(who.corp_id, id).await?.ok_or(EngineError::NotFound("mall item"))?;
        if d.stock.is_some_and(|s| s < old.exchanged) {
            return Err(invalid("stock", "below_exchanged", format!("{} were exchanged already", old.exchanged)));
        }
        // An exchanged item stays what customers exchanged it as: its kind
        // and its coupon template; the name, price and stock may change.
        if old.exchanged > 0 && (d.kind != old.kind || d.template_id != old.template_id) {
            let field = if d.kind != old.kind { "kind" } else { "template_id" };
            return Err(invalid(
                field,
                "locked_after_exchange",
                format!("{} were exchanged already; add a new item instead", old.exchanged),
            ));
        }
        let mut tx = self.db.begin().await?;
        let w = ItemWrite {
            name: &d.name,
            kind: &d.kind,
            template_id: d.template_id,
            gift: &d.gift,
            points: d.points,
            stock: d.stock,
            archived: d.archived,
            now: now_ms(),
        };
        tx.update_mall_item(who.corp_id, id, &w).await?;
        tx.commit().await?;
        Ok(self.db.mall_item(who.corp_id, id).await?.ok_or(EngineError::NotFound("mall item"))?.into())
    }

    pub async fn mall_exchanges(&self, who: &Principal) -> Result<Vec<Exchange>> {
        require(who, Action::ViewCoupons)?;
        Ok(self.db.mall_exchanges(who.corp_id, None, LEDGER_LIMIT).await?.into_iter().map(Into::into).collect())
    }

    /// A customer exchanges points for an item (from their wallet): points
    /// spent, a unit of stock taken and the coupon or a gift code given,
    /// all in one transaction; the same `request_key` again is the same
    /// exchange.
    pub(crate) async fn exchange(
        &self,
        corp_id: i64,
        customer_id: i64,
        item_id: i64,
        request_key: &str,
    ) -> Result<Exchange> {
        let key = format!("{customer_id}:{}", request_key.trim());
        if request_key.trim().is_empty() || key.len() > 100 {
            return Err(invalid("request_key", "required", "a request key"));
        }
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        if let Some(id) = tx.exchange_by_key(corp_id, &key).await? {
            drop(tx);
            return self.exchange_view(corp_id, customer_id, id).await;
        }
        let item = self.db.mall_item(corp_id, item_id).await?.ok_or(EngineError::NotFound("mall item"))?;
        if item.archived {
            return Err(EngineError::NotFound("mall item"));
        }
        if !tx.take_mall_stock(item.id).await? {
            return Err(invalid("item_id", "out_of_stock", "this item is sold out"));
        }
        let gift_code = (item.kind == "gift").then(coupon_code);
        let id =
            tx.insert_exchange(corp_id, item.id, customer_id, item.points, gift_code.as_deref(), &key, now).await?;
        let by = format!("customer:{customer_id}");
        take_in(
            &mut tx,
            corp_id,
            customer_id,
            item.points,
            EntryKind::Exchange,
            &item.name,
            &format!("exchange:{id}"),
            0,
            &by,
            true,
            now,
        )
        .await?;
        if let Some(tid) = item.template_id {
            let t = tx.coupon_template_in_tx(corp_id, tid).await?.ok_or(EngineError::NotFound("coupon template"))?;
            match issue_in(&mut tx, corp_id, &t, customer_id, "exchange", &format!("exchange:{id}"), &by, None, now)
                .await?
            {
                Issued::Coupon(coupon_id) => tx.set_exchange_coupon(id, coupon_id).await?,
                Issued::OverLimit => {
                    return Err(invalid("item_id", "over_limit", "you hold as many of this coupon as allowed"))
                }
                Issued::OutOfStock | Issued::Existed => {
                    return Err(invalid("item_id", "out_of_stock", "this item is sold out"))
                }
            }
        }
        tx.commit().await?;
        self.exchange_view(corp_id, customer_id, id).await
    }

    async fn exchange_view(&self, corp_id: i64, customer_id: i64, id: i64) -> Result<Exchange> {
        self.db
            .mall_exchanges(corp_id, Some(customer_id), LEDGER_LIMIT)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .map(Into::into)
            .ok_or(EngineError::NotFound("exchange"))
    }
}

/// What a customer's wallet shows.
#[derive(Debug, Clone, Serialize)]
pub struct Wallet {
    pub customer_name: String,
    pub balance: i64,
    /// Usable coupons first (soonest to end first), then the rest, newest first.
    pub coupons: Vec<WalletCoupon>,
    /// The latest 50 ledger entries.
    pub ledger: Vec<LedgerEntry>,
    /// Items on offer.
    pub items: Vec<MallItem>,
    /// Gift codes from exchanges, newest first.
    pub gifts: Vec<Exchange>,
    /// Today's check-in (streak, points), if the customer checked in.
    pub checked_in: Option<(i32, i64)>,
    /// Points a check-in earns today (before any streak bonus).
    pub checkin_points: i64,
    /// Points a review earns.
    pub review_points: i64,
    /// Done orders waiting for the customer's review.
    pub reviewable: Vec<Reviewable>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WalletCoupon {
    pub code: String,
    pub title: String,
    pub name: String,
    pub state: String,
    pub valid_from: i64,
    pub valid_to: i64,
}

impl Engine {
    /// A customer's coupons as the wallet and the guide's sidebar show them:
    /// usable first (soonest to end first), then the rest, newest first.
    pub(crate) async fn customer_coupons(&self, corp_id: i64, customer_id: i64) -> Result<Vec<WalletCoupon>> {
        let templates = self.db.coupon_templates(corp_id).await?;
        let rows = self.db.coupons(corp_id, Some(customer_id), None, None, 200).await?;
        let mut coupons: Vec<WalletCoupon> = rows
            .into_iter()
            .map(|r| {
                let title = templates
                    .iter()
                    .find(|t| t.id == r.coupon.template_id)
                    .map(|t| crate::coupons::draft_of(t).title())
                    .unwrap_or_default();
                WalletCoupon {
                    code: r.coupon.code,
                    title,
                    name: r.template_name,
                    state: r.coupon.state,
                    valid_from: r.coupon.valid_from,
                    valid_to: r.coupon.valid_to,
                }
            })
            .collect();
        coupons.sort_by_key(|c| (c.state != "issued", if c.state == "issued" { c.valid_to } else { -c.valid_to }));
        Ok(coupons)
    }

    /// The wallet of the customer a link token names (`/h5/wallet?k=`).
    pub async fn wallet(&self, token: &str) -> Result<Wallet> {
        let (corp_id, customer_id) = self.customer_by_link(token).await?;
        let customer = self.db.customer(corp_id, customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
        let coupons = self.customer_coupons(corp_id, customer_id).await?;
        let balance = self.db.points_balance(corp_id, customer_id).await?;
        let ledger = self.db.points_ledger(corp_id, Some(customer_id), 50).await?.into_iter().map(Into::into).collect();
        let items =
            self.db.mall_items(corp_id).await?.into_iter().filter(|i| !i.archived).map(MallItem::from).collect();
        let gifts = self
            .db
            .mall_exchanges(corp_id, Some(customer_id), 50)
            .await?
            .into_iter()
            .filter(|e| e.gift_code.is_some())
            .map(Into::into)
            .collect();
        let rules = rules_of(self.db.points_rules(corp_id).await?);
        let checked_in = self.today_checkin(corp_id, customer_id).await?;
        let reviewable = self.reviewable_orders(corp_id, customer_id).await?;
        Ok(Wallet {
            customer_name: customer.name,
            balance,
            coupons,
            ledger,
            items,
            gifts,
            checked_in,
            checkin_points: rules.checkin,
            review_points: rules.review,
            reviewable,
        })
    }

    /// An exchange from the wallet of the customer a link token names.
    pub async fn wallet_exchange(&self, token: &str, item_id: i64, request_key: &str) -> Result<Exchange> {
        let (corp_id, customer_id) = self.customer_by_link(token).await?;
        self.exchange(corp_id, customer_id, item_id, request_key).await
    }
}

#[cfg(test)]
mod tests {
    //! The orders seam on both databases: what an order earns, what its
    //! refunds take back (never below zero), and the balance as the sum.
    use super::*;
    use koi_store::acquisition::CustomerProfile;
    use koi_store::scratch::ScratchDb;

    async fn seam(db: &koi_store::Db) {
        let d = koi_domain::org::CorpDraft {
            name: "points".into(),
            wecom_corp_id: "wwPOINTSEAM".into(),
            app_secret: "s".into(),
            callback_token: "t".into(),
            encoding_aes_key: "k".repeat(43),
        };
        let corp = db.create_corp(&d, now_ms()).await.unwrap();
        let p = CustomerProfile { external_userid: "wmSEAM".into(), name: "seam".into(), ..Default::default() };
        let mut tx = db.begin().await.unwrap();
        let (c, _) = tx.upsert_customer(corp, &p, None, None, 0, 0).await.unwrap();
        // 1 point a yuan (the default): ¥49.90 earns 49, once.
        assert_eq!(earn_for_order(&mut tx, corp, c, "o-1", 4990).await.unwrap(), 49);
        assert_eq!(earn_for_order(&mut tx, corp, c, "o-1", 4990).await.unwrap(), 0, "posted twice, earned once");
        assert_eq!(earn_for_order(&mut tx, corp, c, "o-2", 10_000).await.unwrap(), 100);
        // Half of o-1 refunded: 25 back (rounded up); the same total again takes nothing.
        assert_eq!(reverse_for_order(&mut tx, corp, c, "o-1", 2495).await.unwrap(), (25, 0));
        assert_eq!(reverse_for_order(&mut tx, corp, c, "o-1", 2495).await.unwrap(), (0, 0));
        // Spend most of the rest, then refund o-2 fully: what is left is taken, the rest is the shortfall.
        take_in(&mut tx, corp, c, 110, EntryKind::Exchange, "", "exchange:1", 0, "t", true, now_ms()).await.unwrap();
        assert_eq!(tx.points_balance_in_tx(corp, c).await.unwrap(), 14);
        assert_eq!(reverse_for_order(&mut tx, corp, c, "o-2", 10_000).await.unwrap(), (14, 86));
        assert_eq!(reverse_for_order(&mut tx, corp, c, "o-2", 10_000).await.unwrap(), (0, 0), "the shortfall counts");
        let err = take_in(&mut tx, corp, c, 1, EntryKind::Adjust, "x", "", 0, "t", true, now_ms()).await.unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        tx.commit().await.unwrap();
        assert_eq!(db.points_balance(corp, c).await.unwrap(), 0);
        assert_eq!(db.points_ledger_sum(corp, c).await.unwrap(), 0, "the balance is the ledger's sum");
    }

    /// Check-ins day after day: the streak grows, a skipped day restarts
    /// it, the streak day earns the bonus, a second tap on a day earns
    /// nothing, and the balance is the ledger's sum.
    async fn streaks(db: &koi_store::Db) {
        let d = koi_domain::org::CorpDraft {
            name: "streak".into(),
            wecom_corp_id: "wwSTREAK".into(),
            app_secret: "s".into(),
            callback_token: "t".into(),
            encoding_aes_key: "k".repeat(43),
        };
        let corp = db.create_corp(&d, now_ms()).await.unwrap();
        let p = CustomerProfile { external_userid: "wmSTREAK".into(), name: "streak".into(), ..Default::default() };
        let mut tx = db.begin().await.unwrap();
        let (c, _) = tx.upsert_customer(corp, &p, None, None, 0, 0).await.unwrap();
        let r =
            PointsRulesRow { per_yuan: 1, checkin: 5, review: 10, expire_days: 0, streak_days: 3, streak_bonus: 20 };
        tx.set_points_rules(corp, &r, now_ms()).await.unwrap();
        tx.commit().await.unwrap();
        let engine = crate::Engine::new(db.clone(), crate::Settings::default());
        const DAY: i64 = 86_400_000;
        // 2026-12-07 10:00 in Shanghai.
        let day1 = koi_domain::calendar::days_from_civil(2026, 12, 7) * DAY + 2 * 3_600_000;
        let got = |k: &Checkin| (k.streak, k.points, k.already);
        assert_eq!(got(&engine.checkin(corp, c, day1).await.unwrap()), (1, 5, false));
        assert_eq!(got(&engine.checkin(corp, c, day1 + 3_600_000).await.unwrap()), (1, 5, true), "the same day");
        assert_eq!(got(&engine.checkin(corp, c, day1 + DAY).await.unwrap()), (2, 5, false));
        let third = engine.checkin(corp, c, day1 + 2 * DAY).await.unwrap();
        assert_eq!((got(&third), third.balance), ((3, 25, false), 35), "the third day in a row earns the bonus");
        // A day skipped: the streak starts again.
        assert_eq!(got(&engine.checkin(corp, c, day1 + 4 * DAY).await.unwrap()), (1, 5, false));
        assert_eq!(db.points_balance(corp, c).await.unwrap(), 40);
        assert_eq!(db.points_ledger_sum(corp, c).await.unwrap(), 40);
    }

    #[tokio::test]
    async fn check_in_streaks_sqlite() {
        let s = ScratchDb::sqlite().await.unwrap();
        streaks(&s.db).await;
    }

    #[tokio::test]
    async fn check_in_streaks_postgres() {
        let s = ScratchDb::postgres().await.unwrap();
        streaks(&s.db).await;
    }

    #[tokio::test]
    async fn orders_earn_once_and_refunds_take_back_never_below_zero_sqlite() {
        let s = ScratchDb::sqlite().await.unwrap();
        seam(&s.db).await;
    }

    #[tokio::test]
    async fn orders_earn_once_and_refunds_take_back_never_below_zero_postgres() {
        let s = ScratchDb::postgres().await.unwrap();
        seam(&s.db).await;
    }
}
