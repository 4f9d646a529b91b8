//! Two-level distribution (分销): customers who share a link or poster earn
//! commission on the orders of the customers they brought (level 1) and of
//! the customers those brought (level 2) — never a third level, China's
//! legal limit on multi-level selling.
//!
//! | item | holds |
//! |---|---|
//! | [`DistributionSettings`] | rates (a default, per product, per campaign), the refund window, payout bounds |
//! | [`may_refer`] | who may be recorded as whose referrer (first wins, no loops) |
//! | [`beneficiaries`] | who earns on an order: at most two, never the buyer |
//! | [`commission_for`], [`after_refund`] | what a level earns on an order, and after a refund |
//! | [`CommissionState`] | pending → settled → paying → paid; cancelled |
//! | [`clawback`] | what a refund after settlement takes back (a negative entry) |
//! | [`plan_payouts`] | a payout batch: one transfer a distributor, claw-backs netted, within WeChat Pay's limits |
//! | [`PayoutSchedule`] | when batches run by themselves (off, daily, weekly; Asia/Shanghai) |
//!
//! Rates are basis points (1 bp = 0.01 %) of the amount paid, in fen,
//! rounded down: koi never pays a fen more than the rate gives.

use crate::error::Checker;
use crate::ValidationError;
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// The legal limit: commission reaches at most this many levels up.
pub const MAX_LEVELS: usize = 2;
/// 100 % in basis points.
pub const FULL_BP: i64 = 10_000;
/// WeChat Pay's smallest 企业付款到零钱: ¥0.30.
pub const MIN_TRANSFER_FEN: i64 = 30;
/// Rate rules a corp keeps.
pub const MAX_RULES: usize = 200;
/// The longest refund window koi takes: 90 days.
pub const MAX_WINDOW_SECS: i64 = 90 * 86_400;
/// A SKU as a shop spells it.
pub const MAX_SKU: usize = 64;
/// WeChat Pay's bound on a transfer's `desc`.
pub const MAX_DESC: usize = 100;

/// Commission rates for one product or one campaign's distributors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RateRule {
    /// The product this rate is for (exact SKU); or
    pub sku: Option<String>,
    /// the campaign whose participants this rate is for: its participants
    /// are distributors without opting in.
    pub campaign_id: Option<i64>,
    /// Basis points of the amount for level 1 (the buyer's referrer).
    pub level1_bp: i64,
    /// Basis points for level 2 (the referrer's referrer).
    pub level2_bp: i64,
}

/// A corp's distribution settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DistributionSettings {
    /// Orders earn commission only while on.
    pub enabled: bool,
    /// Default rates, in basis points (500 = 5 %).
    pub level1_bp: i64,
    pub level2_bp: i64,
    /// Per product or per campaign; a product rule wins over a campaign
    /// rule, which wins over the default.
    pub rules: Vec<RateRule>,
    /// Seconds after payment until a commission is settled (the refund
    /// window; 7 days by default).
    pub window_secs: i64,
    /// A distributor is paid only once their settled commission reaches
    /// this (≥ ¥0.30, WeChat's minimum).
    pub min_payout_fen: i64,
    /// At most this a transfer (WeChat Pay's per-payment limit the merchant
    /// has set; ¥200 by default). Commission beyond it waits for the next
    /// batch.
    pub max_payout_fen: i64,
    /// The transfer's description the distributor sees in WeChat.
    pub payout_desc: String,
    /// When a payout batch runs by itself (weekly on Monday at 10:00
    /// Shanghai time by default; the console's button runs one any time).
    pub payout_schedule: PayoutSchedule,
}

/// How often a payout batch runs by itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutEvery {
    /// Only by hand.
    Off,
    Daily,
    #[default]
    Weekly,
}

/// When payout batches run by themselves: every day or once a week, at an
/// hour of Asia/Shanghai's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PayoutSchedule {
    pub every: PayoutEvery,
    /// The day of a weekly batch: 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// The hour, 0–23, Shanghai time.
    pub hour: u8,
}

impl Default for PayoutSchedule {
    fn default() -> Self {
        Self { every: PayoutEvery::Weekly, weekday: 1, hour: 10 }
    }
}

/// Shanghai is UTC+8 all year.
const SHANGHAI_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

impl PayoutSchedule {
    /// The start (UTC ms) of the latest slot at or before `now`: the key a
    /// scheduled batch runs under, once. `None` when off.
    pub fn latest_slot(&self, now: i64) -> Option<i64> {
        let local = now + SHANGHAI_OFFSET_MS;
        let day = local.div_euclid(DAY_MS);
        let hour = i64::from(self.hour.min(23)) * 3_600_000;
        let (first, step) = match self.every {
            PayoutEvery::Off => return None,
            PayoutEvery::Daily => (day, 1),
            PayoutEvery::Weekly => {
                // 1970-01-01 was a Thursday (ISO 4).
                let weekday = (day + 3).rem_euclid(7) + 1;
                (day - (weekday - i64::from(self.weekday.clamp(1, 7))).rem_euclid(7), 7)
            }
        };
        let mut slot = first * DAY_MS + hour;
        if slot > local {
            slot -= step * DAY_MS;
        }
        Some(slot - SHANGHAI_OFFSET_MS)
    }
}

impl Default for DistributionSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            level1_bp: 1_000,
            level2_bp: 500,
            rules: Vec::new(),
            window_secs: 7 * 86_400,
            min_payout_fen: 100,
            max_payout_fen: 20_000,
            payout_desc: "分销佣金".to_owned(),
            payout_schedule: PayoutSchedule::default(),
        }
    }
}

impl DistributionSettings {
    /// Trims and checks every field, naming each bad one.
    pub fn validate(self) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let bp = |c: &mut Checker, field: &str, v: i64| {
            if !(0..=FULL_BP).contains(&v) {
                c.push(field, "out_of_range", format!("{field} is basis points, 0–10000"));
            }
        };
        bp(&mut c, "level1_bp", self.level1_bp);
        bp(&mut c, "level2_bp", self.level2_bp);
        if self.level1_bp + self.level2_bp > FULL_BP {
            c.push("level2_bp", "out_of_range", "the two levels together are at most 100 %");
        }
        if self.rules.len() > MAX_RULES {
            c.push("rules", "too_many", format!("at most {MAX_RULES} rate rules"));
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in self.rules.into_iter().enumerate() {
            let field = format!("rules[{i}]");
            let sku = r.sku.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            if let Some(s) = &sku {
                if s.chars().count() > MAX_SKU {
                    c.push(&format!("{field}.sku"), "too_long", format!("a SKU is at most {MAX_SKU} characters"));
                }
            }
            if sku.is_some() == r.campaign_id.is_some() {
                c.push(&field, "invalid", "a rule names either a sku or a campaign_id");
            }
            if r.campaign_id.is_some_and(|id| id <= 0) {
                c.push(&format!("{field}.campaign_id"), "invalid", "campaign_id is a campaign's id");
            }
            bp(&mut c, &format!("{field}.level1_bp"), r.level1_bp);
            bp(&mut c, &format!("{field}.level2_bp"), r.level2_bp);
            if r.level1_bp + r.level2_bp > FULL_BP {
                c.push(&format!("{field}.level2_bp"), "out_of_range", "the two levels together are at most 100 %");
            }
            if !seen.insert((sku.clone(), r.campaign_id)) {
                c.push(&field, "duplicate", "two rules for the same sku or campaign");
            }
            rules.push(RateRule { sku, ..r });
        }
        if !(0..=MAX_WINDOW_SECS).contains(&self.window_secs) {
            c.push("window_secs", "out_of_range", "the refund window is 0–90 days");
        }
        if self.min_payout_fen < MIN_TRANSFER_FEN {
            c.push("min_payout_fen", "out_of_range", "WeChat Pay transfers at least ¥0.30 (30 fen)");
        }
        if self.max_payout_fen < self.min_payout_fen {
            c.push("max_payout_fen", "out_of_range", "max_payout_fen is at least min_payout_fen");
        }
        if !(1..=7).contains(&self.payout_schedule.weekday) {
            c.push("payout_schedule.weekday", "out_of_range", "weekday is 1 (Monday) – 7 (Sunday)");
        }
        if self.payout_schedule.hour > 23 {
            c.push("payout_schedule.hour", "out_of_range", "hour is 0–23, Shanghai time");
        }
        let payout_desc = c.text("payout_desc", &self.payout_desc, MAX_DESC, true);
        c.finish(Self { rules, payout_desc, ..self })
    }

    /// The campaigns whose participants are distributors.
    pub fn campaigns(&self) -> impl Iterator<Item = i64> + '_ {
        self.rules.iter().filter_map(|r| r.campaign_id)
    }

    /// The rate of `level` (1 or 2) for a line of `sku`, sold through a
    /// distributor who came from `campaign_id`: the product's rule, else
    /// the campaign's, else the default.
    pub fn rate(&self, level: usize, sku: &str, campaign_id: Option<i64>) -> i64 {
        let pick = |r: &RateRule| if level == 1 { r.level1_bp } else { r.level2_bp };
        let default = if level == 1 { self.level1_bp } else { self.level2_bp };
        if level == 0 || level > MAX_LEVELS {
            return 0;
        }
        self.rules
            .iter()
            .find(|r| r.sku.as_deref() == Some(sku))
            .or_else(|| campaign_id.and_then(|c| self.rules.iter().find(|r| r.campaign_id == Some(c))))
            .map(pick)
            .unwrap_or(default)
    }
}

/// Whether `referrer` may be recorded as the one who brought `customer`,
/// given `referrer`'s own referrer and theirs (`referrer_chain`). A
/// customer has one referrer, the first (the caller checks there is none
/// yet); nobody refers themselves, and nobody refers one of their own
/// referrers (a loop would let a buyer earn on their own orders).
pub fn may_refer(customer: i64, referrer: i64, referrer_chain: &[i64]) -> bool {
    customer != referrer && !referrer_chain.contains(&customer)
}

/// Who earns on an order by `buyer`, from the buyer's referrer chain
/// (`chain[0]` brought the buyer, `chain[1]` brought `chain[0]`, …): level
/// 1 and level 2 only, never the buyer, nobody twice. Returns (level,
/// customer) pairs.
pub fn beneficiaries(buyer: i64, chain: &[i64]) -> Vec<(usize, i64)> {
    let mut out: Vec<(usize, i64)> = Vec::with_capacity(MAX_LEVELS);
    for (i, &c) in chain.iter().take(MAX_LEVELS).enumerate() {
        if c == buyer || out.iter().any(|&(_, seen)| seen == c) {
            break; // a loop: nothing above it counts
        }
        out.push((i + 1, c));
    }
    out
}

/// One line of a paid order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub sku: String,
    pub amount_fen: i64,
}

/// What `level` earns on `lines`: each line's amount times its rate, each
/// rounded down.
pub fn commission_for(
    settings: &DistributionSettings,
    level: usize,
    lines: &[OrderLine],
    campaign_id: Option<i64>,
) -> i64 {
    lines.iter().map(|l| l.amount_fen.max(0) * settings.rate(level, &l.sku, campaign_id) / FULL_BP).sum()
}

/// What a refund after settlement takes back from a commission of `full`
/// earned on `paid` fen, when the order's refunded total moves from
/// `before` to `after`: what the commission earned then, less what it
/// earns now (never negative; nothing for a refund not larger than the
/// last). The claw-back is a negative entry netted against the next payout.
pub fn clawback(full: i64, paid: i64, before: i64, after: i64) -> i64 {
    if after <= before {
        return 0;
    }
    (after_refund(full, paid, before) - after_refund(full, paid, after)).max(0)
}

/// A commission of `full` earned on `paid` fen, after `refunded` of them
/// came back: cut in proportion, rounded down; nothing once all is refunded.
pub fn after_refund(full: i64, paid: i64, refunded: i64) -> i64 {
    if paid <= 0 || refunded >= paid {
        return 0;
    }
    let kept = paid - refunded.max(0);
    // i128: fen × fen may pass i64 for very large orders.
    (i128::from(full) * i128::from(kept) / i128::from(paid)) as i64
}

/// Where a commission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommissionState {
    /// Inside the refund window: a refund cuts or cancels it.
    Pending,
    /// The window passed: it is owed and waits for a payout.
    Settled,
    /// In a payout being paid.
    Paying,
    Paid,
    /// Refunded whole before it settled.
    Cancelled,
}

impl CommissionState {
    pub fn as_str(self) -> &'static str {
        match self {
            CommissionState::Pending => "pending",
            CommissionState::Settled => "settled",
            CommissionState::Paying => "paying",
            CommissionState::Paid => "paid",
            CommissionState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => CommissionState::Pending,
            "settled" => CommissionState::Settled,
            "paying" => CommissionState::Paying,
            "paid" => CommissionState::Paid,
            "cancelled" => CommissionState::Cancelled,
            _ => return None,
        })
    }

    /// A refund cuts the commission itself only while it is pending.
    pub fn refund_cuts(self) -> bool {
        self == CommissionState::Pending
    }

    /// Once settled (being paid, or paid), a refund leaves the commission
    /// as it is and claws back the refunded share in a negative entry.
    pub fn refund_claws_back(self) -> bool {
        matches!(self, CommissionState::Settled | CommissionState::Paying | CommissionState::Paid)
    }
}

/// A settled commission waiting to be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owed {
    pub commission_id: i64,
    pub distributor_id: i64,
    pub amount_fen: i64,
}

/// One transfer of a batch: a distributor and the commissions it pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPayout {
    pub distributor_id: i64,
    pub amount_fen: i64,
    pub commission_ids: Vec<i64>,
}

/// Plans a payout batch from settled commissions (oldest first): one
/// transfer a distributor. A distributor's claw-backs (negative entries)
/// are all taken first; then their commissions in order while the net stays
/// within `max_payout_fen`; paid only when the net reaches
/// `min_payout_fen`. What does not fit waits for the next batch, and so
/// does a net below the minimum or below zero: the claw-backs stay owed and
/// are netted against what the distributor earns next. A single commission
/// above the maximum is never paid by transfer (the operator pays it by
/// hand).
pub fn plan_payouts(settings: &DistributionSettings, owed: &[Owed]) -> Vec<PlannedPayout> {
    let mut by: std::collections::BTreeMap<i64, PlannedPayout> = std::collections::BTreeMap::new();
    let mut full = std::collections::BTreeSet::new();
    let clawbacks = owed.iter().filter(|o| o.amount_fen < 0);
    for o in clawbacks.chain(owed.iter().filter(|o| o.amount_fen > 0)) {
        if full.contains(&o.distributor_id) {
            continue;
        }
        let p = by.entry(o.distributor_id).or_insert_with(|| PlannedPayout {
            distributor_id: o.distributor_id,
            amount_fen: 0,
            commission_ids: Vec::new(),
        });
        if o.amount_fen > 0 && p.amount_fen + o.amount_fen > settings.max_payout_fen {
            full.insert(o.distributor_id); // in order: the older is paid first
            continue;
        }
        p.amount_fen += o.amount_fen;
        p.commission_ids.push(o.commission_id);
    }
    by.into_values()
        .filter(|p| {
            p.amount_fen >= settings.min_payout_fen.max(MIN_TRANSFER_FEN) && p.amount_fen <= settings.max_payout_fen
        })
        .collect()
}

/// A distributor's token in their share link `/h5/d/{token}`: 22 letters
/// and digits (≈131 bits), unguessable.
pub fn valid_token(token: &str) -> bool {
    token.len() == 22 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The `state` of a distributor's personal contact way: `k1d` then the
/// distributor's id in upper-case base 36 (WeCom's 30 characters hold any
/// id). Campaign states start `k1c`, so the two never meet.
pub fn entry_state(distributor_id: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = distributor_id.max(0) as u64;
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    format!("k1d{}", String::from_utf8(digits).expect("base-36 digits are ASCII"))
}

/// Reads a distributor's `state`; anything else (a channel code's, a
/// foreign tool's, a non-canonical spelling) is `None`.
pub fn parse_entry_state(state: &str) -> Option<i64> {
    let digits = state.strip_prefix("k1d")?;
    if digits.is_empty() || digits.len() > 12 || digits.starts_with('0') {
        return None;
    }
    let mut v: i64 = 0;
    for b in digits.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            _ => return None,
        };
        v = v.checked_mul(36)?.checked_add(i64::from(d))?;
    }
    Some(v)
}

/// A commission order as a shop reports it: checked before anything is
/// written.
pub fn check_order(order_ref: &str, lines: &[OrderLine]) -> Result<(), ValidationError> {
    let mut c = Checker::default();
    c.ident("order_ref", order_ref, 64, &['-', '_', '.', ':']);
    if lines.is_empty() || lines.len() > 200 {
        c.push("lines", "out_of_range", "an order has 1–200 lines");
    }
    for (i, l) in lines.iter().enumerate() {
        if l.sku.trim().is_empty() || l.sku.chars().count() > MAX_SKU {
            c.push(&format!("lines[{i}].sku"), "invalid", format!("a sku is 1–{MAX_SKU} characters"));
        }
        if !(0..=10_000_000_000).contains(&l.amount_fen) {
            c.push(&format!("lines[{i}].amount_fen"), "out_of_range", "amount_fen is 0–10^10 fen");
        }
    }
    c.finish(())
}
