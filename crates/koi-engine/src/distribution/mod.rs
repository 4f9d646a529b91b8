//! Two-level distribution (分销): distributors share a link, the customers
//! they bring are theirs (level 1) and so are those customers' own
//! referrals (level 2); orders of both earn commission, pending for the
//! refund window, then settled, then paid in batches through WeChat Pay's
//! 企业付款到零钱 — each payout exactly once, however often its job runs.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | settings, distributors (opt-in), lists, the H5 share and earnings pages |
//! | `orders.rs` | referrals, [`on_order_paid`], [`on_order_refunded`], [`orders::on_add`], the order report use cases |
//! | `entries.rs` | the distributor's own contact way (state `k1d{id}`) and its job |
//! | `payouts.rs` | settlement (a timer job), payout batches by hand and on a schedule, and [`PayoutJob`] |
//! | `poster.rs` | a distributor's personal product poster |
//! | `tests.rs` | scheduled slots and claw-backs on both databases |

mod entries;
mod orders;
mod payouts;
mod poster;
#[cfg(test)]
mod tests;

pub use orders::{CommissionOrder, CommissionRefund};
// `on_order_paid` and `on_order_refunded` are the hooks koi's orders call
// in their transactions (wired when orders land).
pub(crate) use entries::DistributorEntryJob;
pub(crate) use orders::{on_add, on_order_paid, on_order_refunded, record_referral};
pub(crate) use payouts::{DistributionTickJob, PayoutJob, ScheduledPayoutJob};
pub use payouts::{Payout, PayoutBatch, PayoutRun};

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::distribution::DistributionSettings;
use koi_store::distribution::{CommissionFilter, CommissionRow, DistributorStats};
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// Rows a list returns at most.
const LIST_LIMIT: i64 = 500;

/// A fresh distributor token: 22 letters and digits.
pub(crate) fn new_token() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..22).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

fn parse_settings(json: Option<String>) -> DistributionSettings {
    json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default()
}

/// The corp's settings inside a transaction (defaults, off, when never saved).
pub(crate) async fn settings_in(tx: &mut Tx, corp_id: i64) -> Result<DistributionSettings> {
    Ok(parse_settings(tx.distribution_settings_in_tx(corp_id).await?))
}

/// A distributor with their numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Distributor {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    /// opt_in or campaign.
    pub source: String,
    pub campaign_id: Option<i64>,
    pub active: bool,
    /// The share link: `{public_url}/h5/d/{token}`.
    pub share_url: String,
    /// Their own contact way's QR (state `k1d{id}`), once made.
    pub qr_code: Option<String>,
    /// Customers they brought (level 1) and those brought by them (level 2).
    pub level1: i64,
    pub level2: i64,
    pub pending_fen: i64,
    /// Settled, not paid yet (a payout in flight included), claw-backs
    /// netted: below zero when more was clawed back than is owed (carried
    /// over to what they earn next).
    pub settled_fen: i64,
    pub paid_fen: i64,
    pub created_at: i64,
}

/// One level's commission on one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Commission {
    pub id: i64,
    pub order_ref: String,
    /// 1: the buyer's referrer; 2: their referrer.
    pub level: i64,
    pub distributor_id: i64,
    pub buyer_id: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    /// What the level earned before refunds.
    pub full_fen: i64,
    /// What it earns now; negative for a claw-back.
    pub amount_fen: i64,
    /// pending, settled, paying, paid or cancelled.
    pub state: String,
    /// A claw-back of this commission (a refund after it settled, netted
    /// against the next payout); `refunded_fen` is the order's refunded
    /// total that caused it.
    pub clawback_of: Option<i64>,
    pub paid_at: i64,
    /// When the refund window ends.
    pub settle_at: i64,
    pub payout_id: Option<i64>,
}

impl From<CommissionRow> for Commission {
    fn from(r: CommissionRow) -> Self {
        Commission {
            id: r.id,
            order_ref: r.order_ref,
            level: r.level,
            distributor_id: r.distributor_id,
            buyer_id: r.buyer_id,
            paid_fen: r.paid_fen,
            refunded_fen: r.refunded_fen,
            full_fen: r.full_fen,
            amount_fen: r.amount_fen,
            state: r.state,
            paid_at: r.paid_at,
            settle_at: r.settle_at,
            payout_id: r.payout_id,
            clawback_of: r.clawback_of,
        }
    }
}

/// Filters of the commission list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(default)]
pub struct CommissionQuery {
    pub distributor_id: Option<i64>,
    /// pending, settled, paying, paid or cancelled.
    pub state: Option<String>,
    pub order_ref: Option<String>,
}

/// Making a customer a distributor.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct OptIn {
    pub customer_id: i64,
}

/// Turning a distributor on or off.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct DistributorPatch {
    pub active: bool,
}

/// What the share link's landing page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharePage {
    pub distributor_name: String,
    /// The distributor's contact way, when made.
    pub qr_code: Option<String>,
    /// The visitor (by their own link) is now recorded as brought by the
    /// distributor — or was, by them, before.
    pub referred: bool,
}

/// A distributor's earnings page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EarningsPage {
    pub name: String,
    /// Not a distributor yet: the page offers to become one.
    pub distributor: Option<Distributor>,
    pub commissions: Vec<Commission>,
    pub payouts: Vec<Payout>,
    /// Products a distributor can make a poster of (active, at most 20).
    pub products: Vec<PosterProduct>,
}

/// A product on the earnings page, with its poster's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PosterProduct {
    pub id: i64,
    pub name: String,
    pub price_fen: i64,
    /// `/h5/earnings/poster.jpg?k=…&product={id}`.
    pub poster_path: String,
}

impl Engine {
    fn distributor_view(&self, s: DistributorStats) -> Distributor {
        Distributor {
            id: s.id,
            customer_id: s.customer_id,
            name: s.name,
            source: s.source,
            campaign_id: s.campaign_id,
            active: s.active,
            share_url: format!("{}/h5/d/{}", self.settings.public_url.trim_end_matches('/'), s.token),
            qr_code: Some(s.qr_code).filter(|q| !q.is_empty()),
            level1: s.level1,
            level2: s.level2,
            pending_fen: s.pending_fen,
            settled_fen: s.settled_fen,
            paid_fen: s.paid_fen,
            created_at: s.created_at,
        }
    }

    /// The corp's distribution settings (off, with defaults, when never saved).
    pub async fn distribution_settings(&self, who: &Principal) -> Result<DistributionSettings> {
        require(who, Action::ViewDistribution)?;
        Ok(parse_settings(self.db.distribution_settings(who.corp_id).await?))
    }

    /// Saves the settings whole. A campaign rule must name a campaign of
    /// the corp.
    pub async fn save_distribution_settings(
        &self,
        who: &Principal,
        input: DistributionSettings,
    ) -> Result<DistributionSettings> {
        require(who, Action::ManageDistribution)?;
        let s = input.validate()?;
        for (i, id) in s.rules.iter().enumerate().filter_map(|(i, r)| r.campaign_id.map(|c| (i, c))) {
            if self.db.campaign(who.corp_id, id).await?.is_none() {
                let field = format!("rules[{i}].campaign_id");
                return Err(koi_domain::ValidationError::one(&field, "unknown", "no such campaign").into());
            }
        }
        let json = serde_json::to_string(&s).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        self.db.save_distribution_settings(who.corp_id, &json, now_ms()).await?;
        self.audit(who, "distribution.settings_saved", format!("corp:{}", who.corp_id)).await?;
        Ok(s)
    }

    /// The corp's distributors with their numbers, newest first.
    pub async fn distributors(&self, who: &Principal) -> Result<Vec<Distributor>> {
        require(who, Action::ViewDistribution)?;
        let rows = self.db.distributor_stats(who.corp_id, None, LIST_LIMIT).await?;
        Ok(rows.into_iter().map(|s| self.distributor_view(s)).collect())
    }

    pub async fn distributor(&self, who: &Principal, id: i64) -> Result<Distributor> {
        require(who, Action::ViewDistribution)?;
        let row = self.db.distributor_stats(who.corp_id, Some(id), 1).await?.pop();
        row.map(|s| self.distributor_view(s)).ok_or(EngineError::NotFound("distributor"))
    }

    /// Makes a customer a distributor (an operator, for a customer who
    /// asked); the same customer again returns their row.
    pub async fn opt_in_distributor(&self, who: &Principal, input: OptIn) -> Result<Distributor> {
        require(who, Action::ManageDistribution)?;
        self.db.customer(who.corp_id, input.customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
        let id = self.make_distributor(who.corp_id, input.customer_id).await?;
        self.audit(who, "distribution.opted_in", format!("customer:{}", input.customer_id)).await?;
        self.distributor(who, id).await
    }

    async fn make_distributor(&self, corp_id: i64, customer_id: i64) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        let d = tx.ensure_distributor(corp_id, customer_id, &new_token(), "opt_in", None, now_ms()).await?;
        entries::queue_entry(&mut tx, corp_id, d.id).await?;
        tx.commit().await?;
        Ok(d.id)
    }

    /// Turns a distributor off (their referrals' orders earn nothing while
    /// off; settled commission is kept) or on again.
    pub async fn set_distributor_active(
        &self,
        who: &Principal,
        id: i64,
        patch: DistributorPatch,
    ) -> Result<Distributor> {
        require(who, Action::ManageDistribution)?;
        let mut tx = self.db.begin().await?;
        tx.distributor_in_tx(who.corp_id, id).await?.ok_or(EngineError::NotFound("distributor"))?;
        tx.set_distributor_active(who.corp_id, id, patch.active).await?;
        tx.commit().await?;
        self.distributor(who, id).await
    }

    /// Commissions, newest first (at most 500).
    pub async fn commissions(&self, who: &Principal, q: &CommissionQuery) -> Result<Vec<Commission>> {
        require(who, Action::ViewDistribution)?;
        if let Some(s) = &q.state {
            if koi_domain::distribution::CommissionState::parse(s).is_none() {
                let msg = "state is pending, settled, paying, paid or cancelled";
                return Err(koi_domain::ValidationError::one("state", "invalid", msg).into());
            }
        }
        let f = CommissionFilter {
            distributor_id: q.distributor_id,
            state: q.state.as_deref(),
            order_ref: q.order_ref.as_deref(),
            limit: LIST_LIMIT,
        };
        Ok(self.db.commissions(who.corp_id, &f).await?.into_iter().map(Commission::from).collect())
    }

    async fn order_commissions(&self, who: &Principal, order_ref: &str) -> Result<Vec<Commission>> {
        let q = CommissionQuery { order_ref: Some(order_ref.to_owned()), ..Default::default() };
        let mut list = self.commissions(who, &q).await?;
        list.sort_by_key(|c| c.level);
        Ok(list)
    }

    /// The share link's landing (`/h5/d/{token}`): a visitor who came with
    /// their own customer link (`k`) is recorded as brought by the
    /// distributor (the first referrer wins). `NotFound` for an unknown or
    /// switched-off distributor.
    pub async fn distributor_share_page(&self, token: &str, visitor_link: Option<&str>) -> Result<SharePage> {
        if !koi_domain::distribution::valid_token(token) {
            return Err(EngineError::NotFound("distributor"));
        }
        let d = self.db.distributor_by_token(token).await?.filter(|d| d.active);
        let d = d.ok_or(EngineError::NotFound("distributor"))?;
        let customer = self.db.customer(d.corp_id, d.customer_id).await?.ok_or(EngineError::NotFound("distributor"))?;
        let mut referred = false;
        if let Some(k) = visitor_link.filter(|k| !k.is_empty()) {
            let (corp_id, visitor) = self.customer_by_link(k).await?;
            if corp_id == d.corp_id && visitor != d.customer_id {
                let mut tx = self.db.begin().await?;
                orders::record_referral(&mut tx, corp_id, visitor, d.customer_id, "link").await?;
                referred = tx.referrer_of(corp_id, visitor).await? == Some(d.customer_id);
                tx.commit().await?;
            }
        }
        let qr_code = Some(d.qr_code).filter(|q| !q.is_empty());
        Ok(SharePage { distributor_name: customer.name, qr_code, referred })
    }

    /// A customer's earnings page (`/h5/earnings?k=`).
    pub async fn earnings_page(&self, link: &str) -> Result<EarningsPage> {
        let (corp_id, customer_id) = self.customer_by_link(link).await?;
        let customer = self.db.customer(corp_id, customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
        let Some(d) = self.db.distributor_of_customer(corp_id, customer_id).await? else {
            let (commissions, payouts, products) = (vec![], vec![], vec![]);
            return Ok(EarningsPage { name: customer.name, distributor: None, commissions, payouts, products });
        };
        let stats = self.db.distributor_stats(corp_id, Some(d.id), 1).await?.pop();
        let f = CommissionFilter { distributor_id: Some(d.id), limit: 50, ..Default::default() };
        let commissions = self.db.commissions(corp_id, &f).await?.into_iter().map(Commission::from).collect();
        let payouts = self.db.payouts(corp_id, None, Some(d.id), 20).await?.into_iter().map(Payout::from).collect();
        let products = if d.active {
            let rows = self.db.products(corp_id).await?;
            rows.into_iter()
                .filter(|p| p.active)
                .take(20)
                .map(|p| PosterProduct {
                    poster_path: format!("/h5/earnings/poster.jpg?k={link}&product={}", p.id),
                    id: p.id,
                    name: p.name,
                    price_fen: p.price_fen,
                })
                .collect()
        } else {
            vec![]
        };
        Ok(EarningsPage {
            name: customer.name,
            distributor: stats.map(|s| self.distributor_view(s)),
            commissions,
            payouts,
            products,
        })
    }

    /// The customer opts in from their earnings page, when the corp runs
    /// distribution.
    pub async fn opt_in_by_link(&self, link: &str) -> Result<()> {
        let (corp_id, customer_id) = self.customer_by_link(link).await?;
        let s = parse_settings(self.db.distribution_settings(corp_id).await?);
        if !s.enabled {
            return Err(EngineError::NotFound("distribution"));
        }
        self.make_distributor(corp_id, customer_id).await?;
        Ok(())
    }
}
