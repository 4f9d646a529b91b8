//! Coupons (优惠券): templates, issuing (by hand, to a segment, as a
//! campaign reward, from the points mall), the check and redemption at a
//! counter, expiry and the reminder before it, and conversion per template.
//!
//! | item | what |
//! |---|---|
//! | templates | CRUD; a template's stock and per-customer limit bound every way of issuing |
//! | issuing | [`issue_in`] in the caller's transaction: by hand, [`issue_automatically`] for a tag rule (`rule:{id}`) or a welcome (`welcome:{code}:{add}`) with refusals on the timeline, [`CouponIssueJob`] for a segment (pages of [`ISSUE_PAGE`], once per customer), `campaigns/rewards.rs` for a tier naming a template (once per participant and tier), `points/` for an exchange |
//! | redeeming | [`Engine::check_coupon`], [`Engine::redeem_coupon`]: one conditional update, so two counters at once redeem it once; again with the same order ref answers the same |
//! | refunds | [`release_for_refund`]: a fully refunded order's coupon is issued again while still valid |
//! | time | [`CouponTickJob`] (the worker's loop, every `campaign_tick_ms`): expiry, the reminder through the customer's guide 3 days before the end, points past their date |
//!
//! Seam for orders: call [`release_for_refund`] in the refund's transaction,
//! and `points::earn_for_order` / `points::reverse_for_order`.

use crate::jobs::{enqueue, Job, JobCtx, JobResult};
use crate::outreach::guide_tasks::plan_guide_task;
use crate::outreach::{GuideContent, GuideLink};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::{Action, Role};
use koi_domain::coupon::{self, CouponKind, Refusal, TemplateDraft, Terms};
use koi_domain::jobs::priority;
use koi_domain::ValidationError;
use koi_store::coupons::{
    CouponListRow, CouponRow, IssueRow, Issued, NewCoupon, Redemption, TemplateRow, TemplateStats, TemplateWrite,
};
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::outreach::NewGuideTask;
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// Customers one run of a segment issue handles.
pub const ISSUE_PAGE: usize = 500;
/// Coupons a list shows.
pub const LIST_LIMIT: i64 = 500;
/// The guide-task purpose of a coupon's reminder (one task per coupon).
pub const REMINDER_PURPOSE: &str = "coupon_reminder";
/// How long before its end a coupon's customer is reminded.
pub const REMIND_AHEAD_MS: i64 = 3 * 86_400_000;
const TICK_BATCH: i64 = 500;

/// Letters of a coupon code: no 0/O or 1/I to misread at a counter.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// 16 of 32 letters: 80 bits, unguessable.
const CODE_LEN: usize = 16;

pub(crate) fn coupon_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// A template with its conversion.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CouponTemplate {
    pub id: i64,
    #[serde(flatten)]
    pub draft: TemplateDraft,
    /// What the customer reads: "满49减20".
    pub title: String,
    /// Coupons issued (counts against the stock).
    pub issued: i64,
    pub archived: bool,
    pub stats: CouponStats,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Conversion of a template: issued → redeemed → the orders' amount.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CouponStats {
    pub issued: i64,
    pub redeemed: i64,
    pub expired: i64,
    /// Redeemed / issued, 0..=1.
    pub redemption_rate: f64,
    /// Amount of the orders coupons were redeemed on, fen.
    pub order_fen: i64,
    /// What the coupons took off, fen.
    pub off_fen: i64,
}

impl From<&TemplateStats> for CouponStats {
    fn from(s: &TemplateStats) -> Self {
        CouponStats {
            issued: s.issued,
            redeemed: s.redeemed,
            expired: s.expired,
            redemption_rate: if s.issued > 0 { s.redeemed as f64 / s.issued as f64 } else { 0.0 },
            order_fen: s.order_fen,
            off_fen: s.off_fen,
        }
    }
}

/// An issued coupon.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Coupon {
    pub id: i64,
    pub template_id: i64,
    pub template_name: String,
    pub customer_id: i64,
    pub customer_name: String,
    /// Unguessable; what the QR carries.
    pub code: String,
    /// issued, redeemed, expired or revoked.
    pub state: String,
    pub valid_from: i64,
    pub valid_to: i64,
    /// hand, segment, campaign or exchange.
    pub source: String,
    pub issued_by: String,
    pub issued_at: i64,
    pub redeemed_at: Option<i64>,
    pub order_ref: Option<String>,
    pub order_fen: Option<i64>,
    pub off_fen: Option<i64>,
    pub redeemed_store_id: Option<i64>,
    pub redeemed_by: Option<String>,
}

impl From<CouponListRow> for Coupon {
    fn from(r: CouponListRow) -> Self {
        Coupon::of(r.coupon, r.template_name, r.customer_name)
    }
}

impl Coupon {
    fn of(k: CouponRow, template_name: String, customer_name: String) -> Self {
        Coupon {
            id: k.id,
            template_id: k.template_id,
            template_name,
            customer_id: k.customer_id,
            customer_name,
            code: k.code,
            state: k.state,
            valid_from: k.valid_from,
            valid_to: k.valid_to,
            source: k.source,
            issued_by: k.issued_by,
            issued_at: k.issued_at,
            redeemed_at: k.redeemed_at,
            order_ref: k.order_ref,
            order_fen: k.order_fen,
            off_fen: k.off_fen,
            redeemed_store_id: k.redeemed_store_id,
            redeemed_by: k.redeemed_by,
        }
    }
}

/// What a coupon would take off an order (the POS asks before it redeems).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CouponCheck {
    pub code: String,
    /// Whether it applies.
    pub ok: bool,
    /// Fen off (0 for a gift, handed over instead).
    pub off_fen: i64,
    /// Why not: not_started, expired, below_threshold, wrong_store, not_issued.
    pub refusal: Option<String>,
    pub message: String,
    pub title: String,
    pub state: String,
    pub valid_to: i64,
}

/// A template issued to a segment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CouponIssue {
    pub id: i64,
    pub template_id: i64,
    pub segment_id: i64,
    pub segment_name: String,
    /// The segment's customers when it started.
    pub planned: i64,
    pub issued: i64,
    /// Customers who hold the template's limit already.
    pub over_limit: i64,
    /// Customers left without one when the stock ran out.
    pub out_of_stock: i64,
    /// running or done.
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl From<IssueRow> for CouponIssue {
    fn from(r: IssueRow) -> Self {
        CouponIssue {
            id: r.id,
            template_id: r.template_id,
            segment_id: r.segment_id,
            segment_name: r.segment_name,
            planned: i64::from(r.planned),
            issued: i64::from(r.issued),
            over_limit: i64::from(r.over_limit),
            out_of_stock: i64::from(r.out_of_stock),
            state: r.state,
            created_by: r.created_by,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> EngineError {
    ValidationError::one(field, code, message).into()
}

pub(crate) fn draft_of(t: &TemplateRow) -> TemplateDraft {
    TemplateDraft {
        name: t.name.clone(),
        kind: CouponKind::parse(&t.kind).unwrap_or(CouponKind::Gift),
        value_fen: t.value_fen,
        min_fen: t.min_fen,
        discount_pct: t.discount_pct,
        gift: t.gift.clone(),
        valid_from: t.valid_from,
        valid_to: t.valid_to,
        valid_days: t.valid_days,
        per_customer: t.per_customer,
        stock: t.stock,
        store_ids: serde_json::from_str(&t.store_ids).unwrap_or_default(),
    }
}

fn template_view(t: TemplateRow, stats: Option<&TemplateStats>) -> CouponTemplate {
    let draft = draft_of(&t);
    CouponTemplate {
        id: t.id,
        title: draft.title(),
        draft,
        issued: t.issued,
        archived: t.archived,
        stats: stats.map(CouponStats::from).unwrap_or_default(),
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

fn terms_of(t: &TemplateRow, k: &CouponRow) -> Terms {
    let d = draft_of(t);
    Terms {
        kind: d.kind,
        value_fen: d.value_fen,
        min_fen: d.min_fen,
        discount_pct: d.discount_pct,
        store_ids: d.store_ids,
        valid_from: k.valid_from,
        valid_to: k.valid_to,
    }
}

/// Issues one coupon of `t` to a customer in the caller's transaction,
/// within the template's stock and limit; once per non-empty `source_ref`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn issue_in(
    tx: &mut Tx,
    corp_id: i64,
    t: &TemplateRow,
    customer_id: i64,
    source: &str,
    source_ref: &str,
    by: &str,
    code: Option<&str>,
    now: i64,
) -> Result<Issued> {
    if t.archived {
        return Ok(Issued::OutOfStock);
    }
    let (valid_from, valid_to) = draft_of(t).validity().window(now);
    let fresh = coupon_code();
    let k = NewCoupon {
        corp_id,
        template_id: t.id,
        customer_id,
        code: code.unwrap_or(&fresh),
        valid_from,
        valid_to,
        source,
        source_ref,
        issued_by: by,
        now,
    };
    let issued = tx.issue_coupon(&k, t.per_customer).await?;
    if let Issued::Coupon(id) = issued {
        let payload = serde_json::json!({ "coupon_id": id, "template_id": t.id, "source": source });
        let e = NewEvent {
            corp_id,
            kind: "coupon.issued",
            subject: &format!("customer:{customer_id}"),
            actor: by,
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
    }
    Ok(issued)
}

/// A coupon a tag rule or a welcome gives (no one asked for it in
/// person): issued once per customer and `source_ref`; what stops it (the
/// template archived or gone, its stock, the limit per customer) goes on
/// the customer's timeline as `coupon.not_issued`, so the operator sees
/// why someone got nothing. Returns the coupon when one was issued.
pub(crate) async fn issue_automatically(
    tx: &mut Tx,
    corp_id: i64,
    template_id: i64,
    customer_id: i64,
    source: &str,
    source_ref: &str,
    now: i64,
) -> Result<Option<i64>> {
    let reason = match tx.coupon_template_in_tx(corp_id, template_id).await? {
        Some(t) if t.archived => "archived",
        Some(t) => match issue_in(tx, corp_id, &t, customer_id, source, source_ref, "koi", None, now).await? {
            Issued::Coupon(id) => return Ok(Some(id)),
            Issued::Existed => return Ok(None),
            Issued::OverLimit => "over_limit",
            Issued::OutOfStock => "out_of_stock",
        },
        None => "unknown_template",
    };
    tracing::info!(corp_id, customer_id, template_id, source, reason, "coupon not issued");
    let payload =
        serde_json::json!({ "template_id": template_id, "source": source, "source_ref": source_ref, "reason": reason });
    let e = NewEvent {
        corp_id,
        kind: "coupon.not_issued",
        subject: &format!("customer:{customer_id}"),
        actor: "koi",
        payload: &payload.to_string(),
        dedup_key: Some(&format!("coupon.not_issued:{source_ref}:{customer_id}")),
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(None)
}

/// A fully refunded order's coupon use is undone (in the refund's
/// transaction): its coupons still in their window are issued again;
/// returns how many.
pub(crate) async fn release_for_refund(tx: &mut Tx, corp_id: i64, order_ref: &str) -> Result<usize> {
    let now = now_ms();
    let ids = tx.release_coupons_of_order(corp_id, order_ref, now).await?;
    for id in &ids {
        let payload = serde_json::json!({ "coupon_id": id, "order_ref": order_ref });
        let e = NewEvent {
            corp_id,
            kind: "coupon.released",
            subject: &format!("coupon:{id}"),
            actor: "koi",
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
    }
    Ok(ids.len())
}

fn write_of<'a>(d: &'a TemplateDraft, stores: &'a str, now: i64) -> TemplateWrite<'a> {
    TemplateWrite {
        name: &d.name,
        kind: d.kind.as_str(),
        value_fen: d.value_fen,
        min_fen: d.min_fen,
        discount_pct: d.discount_pct,
        gift: &d.gift,
        valid_from: d.valid_from,
        valid_to: d.valid_to,
        valid_days: d.valid_days,
        per_customer: d.per_customer,
        stock: d.stock,
        store_ids: stores,
        now,
    }
}

impl Engine {
    /// The corp's templates, newest first, with their conversion.
    pub async fn coupon_templates(&self, who: &Principal) -> Result<Vec<CouponTemplate>> {
        require(who, Action::ViewCoupons)?;
        let stats = self.db.coupon_stats(who.corp_id).await?;
        let rows = self.db.coupon_templates(who.corp_id).await?;
        Ok(rows
            .into_iter()
            // A store manager's: templates valid in one of their stores (none listed: all).
            .filter(|t| {
                let stores = draft_of(t).store_ids;
                who.store_scope().is_none() || stores.is_empty() || stores.iter().any(|s| who.sees_store(*s))
            })
            .map(|t| {
                let s = stats.iter().find(|s| s.template_id == t.id);
                template_view(t, s)
            })
            .collect())
    }

    pub async fn coupon_template(&self, who: &Principal, id: i64) -> Result<CouponTemplate> {
        require(who, Action::ViewCoupons)?;
        let t = self.db.coupon_template(who.corp_id, id).await?.ok_or(EngineError::NotFound("coupon template"))?;
        let stats = self.db.coupon_stats(who.corp_id).await?;
        let s = stats.iter().find(|s| s.template_id == id);
        Ok(template_view(t, s))
    }

    async fn check_stores(&self, who: &Principal, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let known: Vec<i64> = self.stores(who).await?.into_iter().map(|s| s.id).collect();
        if let Some(bad) = ids.iter().find(|s| !known.contains(s)) {
            return Err(invalid("store_ids", "unknown_store", format!("no store {bad}")));
        }
        Ok(())
    }

    pub async fn create_coupon_template(&self, who: &Principal, draft: &TemplateDraft) -> Result<CouponTemplate> {
        require(who, Action::ManageCoupons)?;
        let d = draft.validate()?;
        self.check_stores(who, &d.store_ids).await?;
        let stores = serde_json::to_string(&d.store_ids).expect("ids serialise");
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let id = tx.insert_coupon_template(who.corp_id, &write_of(&d, &stores, now)).await?;
        let e = NewEvent {
            corp_id: who.corp_id,
            kind: "coupon_template.created",
            subject: &format!("coupon_template:{id}"),
            actor: &actor(who),
            payload: &serde_json::json!({ "name": d.name, "kind": d.kind }).to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        tx.commit().await?;
        self.coupon_template(who, id).await
    }

    /// Edits a template; coupons issued before keep their window. The stock
    /// cannot go below what was issued.
    /// Replaces a template's settings. Once coupons were issued, their terms
    /// (kind, amounts, gift, validity) are locked (`locked_after_issue`):
    /// the name, the stock (never below `issued`), the limit per customer
    /// and the stores may change.
    pub async fn update_coupon_template(
        &self,
        who: &Principal,
        id: i64,
        draft: &TemplateDraft,
    ) -> Result<CouponTemplate> {
        require(who, Action::ManageCoupons)?;
        let d = draft.validate()?;
        self.check_stores(who, &d.store_ids).await?;
        let stores = serde_json::to_string(&d.store_ids).expect("ids serialise");
        let mut tx = self.db.begin().await?;
        let t = tx.coupon_template_in_tx(who.corp_id, id).await?.ok_or(EngineError::NotFound("coupon template"))?;
        // What issued coupons promised stays; wording and stock may change.
        draft_of(&t).check_change_after_issue(&d, t.issued)?;
        tx.update_coupon_template(who.corp_id, id, &write_of(&d, &stores, now_ms())).await?;
        tx.commit().await?;
        self.coupon_template(who, id).await
    }

    /// Archives a template (no more issuing; issued coupons stay valid), or
    /// brings it back.
    pub async fn archive_coupon_template(&self, who: &Principal, id: i64, archived: bool) -> Result<CouponTemplate> {
        require(who, Action::ManageCoupons)?;
        let mut tx = self.db.begin().await?;
        if !tx.archive_coupon_template(who.corp_id, id, archived, now_ms()).await? {
            return Err(EngineError::NotFound("coupon template"));
        }
        tx.commit().await?;
        self.coupon_template(who, id).await
    }

    /// Issues one coupon to one customer by hand.
    pub async fn issue_coupon(&self, who: &Principal, template_id: i64, customer_id: i64) -> Result<Coupon> {
        require(who, Action::ManageCoupons)?;
        let customer = self.customer(who, customer_id).await?;
        let mut tx = self.db.begin().await?;
        let t = tx
            .coupon_template_in_tx(who.corp_id, template_id)
            .await?
            .ok_or_else(|| invalid("template_id", "unknown_template", "no such coupon template"))?;
        if t.archived {
            return Err(invalid("template_id", "archived", "the template is archived"));
        }
        let id = match issue_in(&mut tx, who.corp_id, &t, customer_id, "hand", "", &actor(who), None, now_ms()).await? {
            Issued::Coupon(id) => id,
            Issued::OverLimit => {
                return Err(invalid("customer_id", "over_limit", "the customer holds this template's limit"))
            }
            Issued::OutOfStock | Issued::Existed => {
                return Err(invalid("template_id", "out_of_stock", "the template's stock is used up"))
            }
        };
        let k = tx.coupon_in_tx(who.corp_id, id).await?.ok_or(EngineError::NotFound("coupon"))?;
        tx.commit().await?;
        Ok(Coupon::of(k, t.name, customer.name))
    }

    /// Issues a template to a saved segment's customers: a job that walks
    /// them in pages, each customer once, within the stock and the limit.
    pub async fn issue_coupons_to_segment(
        &self,
        who: &Principal,
        template_id: i64,
        segment_id: i64,
    ) -> Result<CouponIssue> {
        require(who, Action::ManageCoupons)?;
        let t = self
            .db
            .coupon_template(who.corp_id, template_id)
            .await?
            .ok_or_else(|| invalid("template_id", "unknown_template", "no such coupon template"))?;
        if t.archived {
            return Err(invalid("template_id", "archived", "the template is archived"));
        }
        let segment = self
            .db
            .segment(who.corp_id, segment_id)
            .await?
            .ok_or_else(|| invalid("segment_id", "unknown_segment", "no such segment"))?;
        let ids = self.segment_customer_ids(who, &crate::customers::SegmentInput::Text(segment.expr.clone())).await?;
        let now = now_ms();
        let row = IssueRow {
            id: 0,
            corp_id: who.corp_id,
            template_id,
            segment_id,
            segment_name: segment.name.clone(),
            expr: segment.expr.clone(),
            planned: i32::try_from(ids.len()).unwrap_or(i32::MAX),
            issued: 0,
            over_limit: 0,
            out_of_stock: 0,
            cursor: 0,
            state: "running".into(),
            created_by: actor(who),
            created_at: now,
            finished_at: None,
        };
        let mut tx = self.db.begin().await?;
        let id = tx.insert_coupon_issue(&row).await?;
        enqueue(&mut tx, who.corp_id, &CouponIssueJob { issue_id: id }).await?;
        tx.commit().await?;
        Ok(self.db.coupon_issue(who.corp_id, id).await?.ok_or(EngineError::NotFound("coupon issue"))?.into())
    }

    pub async fn coupon_issues(&self, who: &Principal) -> Result<Vec<CouponIssue>> {
        require(who, Action::ViewCoupons)?;
        Ok(self.db.coupon_issues(who.corp_id, 200).await?.into_iter().map(Into::into).collect())
    }

    pub async fn coupon_issue(&self, who: &Principal, id: i64) -> Result<CouponIssue> {
        require(who, Action::ViewCoupons)?;
        Ok(self.db.coupon_issue(who.corp_id, id).await?.ok_or(EngineError::NotFound("coupon issue"))?.into())
    }

    /// Coupons, newest first (the redeemed ones by redemption: the
    /// redemption log), narrowed to a customer, a template or a state.
    pub async fn coupons(
        &self,
        who: &Principal,
        customer_id: Option<i64>,
        template_id: Option<i64>,
        state: Option<&str>,
    ) -> Result<Vec<Coupon>> {
        require(who, Action::ViewCoupons)?;
        if let Some(s) = state {
            if !["issued", "redeemed", "expired", "revoked"].contains(&s) {
                return Err(invalid("state", "unknown_state", "issued, redeemed, expired or revoked"));
            }
        }
        // A store manager's list: their stores' customers and redemptions.
        let stores = who.store_scope();
        let rows = self.db.coupons_in_stores(who.corp_id, customer_id, template_id, state, stores, LIST_LIMIT).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn coupon_and_template(&self, corp_id: i64, code: &str) -> Result<(CouponRow, TemplateRow)> {
        let k = self.db.coupon_by_code(corp_id, code).await?.ok_or(EngineError::NotFound("coupon"))?;
        let t = self.db.coupon_template(corp_id, k.template_id).await?.ok_or(EngineError::NotFound("coupon"))?;
        Ok((k, t))
    }

    /// What a coupon would take off an order of `amount_fen` in a store now.
    pub async fn check_coupon(
        &self,
        who: &Principal,
        code: &str,
        store_id: Option<i64>,
        amount_fen: i64,
    ) -> Result<CouponCheck> {
        require(who, Action::RedeemRewards)?;
        let code = normalize(code)?;
        let (k, t) = self.coupon_and_template(who.corp_id, &code).await?;
        let result = if k.state == "issued" {
            coupon::check(&terms_of(&t, &k), amount_fen, store_id, now_ms())
        } else {
            Err(Refusal::NotIssued)
        };
        let title = draft_of(&t).title();
        Ok(match result {
            Ok(off) => CouponCheck {
                code,
                ok: true,
                off_fen: off,
                refusal: None,
                message: String::new(),
                title,
                state: k.state,
                valid_to: k.valid_to,
            },
            Err(r) => CouponCheck {
                code,
                ok: false,
                off_fen: 0,
                refusal: Some(r.as_str().into()),
                message: r.message().into(),
                title,
                state: k.state,
                valid_to: k.valid_to,
            },
        })
    }

    /// Redeems a coupon on an order (the POS through the API, a guide
    /// scanning its QR in the sidebar). At most once however many counters
    /// try at once; again with the same `order_ref` answers the same
    /// redemption. `amount_fen` is the order's amount (None: the counter
    /// checked the threshold itself).
    pub async fn redeem_coupon(
        &self,
        who: &Principal,
        code: &str,
        store_id: Option<i64>,
        order_ref: &str,
        amount_fen: Option<i64>,
    ) -> Result<Coupon> {
        require(who, Action::RedeemRewards)?;
        let code = normalize(code)?;
        let order_ref = order_ref.trim();
        if order_ref.is_empty() || order_ref.chars().count() > 64 {
            return Err(invalid("order_ref", "required", "the order's reference, 1..=64 characters"));
        }
        if let Some(s) = store_id {
            if who.role != Role::Guide && !who.sees_store(s) {
                return Err(EngineError::Forbidden);
            }
        }
        let (k, t) = self.coupon_and_template(who.corp_id, &code).await?;
        let customer_name = self.db.customer(who.corp_id, k.customer_id).await?.map(|c| c.name).unwrap_or_default();
        let same = |k: &CouponRow| k.state == "redeemed" && k.order_ref.as_deref() == Some(order_ref);
        if same(&k) {
            return Ok(Coupon::of(k, t.name, customer_name));
        }
        let now = now_ms();
        let terms = terms_of(&t, &k);
        let amount = amount_fen.unwrap_or(terms.min_fen.max(terms.value_fen));
        let off = match (k.state.as_str(), coupon::check(&terms, amount, store_id, now)) {
            ("redeemed", _) => return Err(EngineError::Conflict { what: "a redemption of this coupon" }),
            ("issued", Ok(off)) => off,
            ("issued", Err(r)) => return Err(invalid("code", r.as_str(), r.message())),
            _ => return Err(invalid("code", Refusal::NotIssued.as_str(), Refusal::NotIssued.message())),
        };
        let by = match who.staff_id {
            Some(s) if who.role == Role::Guide => format!("staff:{s}"),
            _ => actor(who),
        };
        let r = Redemption { order_ref, order_fen: amount_fen.unwrap_or(0), off_fen: off, store_id, by: &by, now };
        let mut tx = self.db.begin().await?;
        let Some(done) = tx.redeem_coupon(who.corp_id, &code, &r).await? else {
            // Another counter won the race: the same order is the same answer.
            let again = tx.coupon_by_code_in_tx(who.corp_id, &code).await?.ok_or(EngineError::NotFound("coupon"))?;
            return if same(&again) {
                Ok(Coupon::of(again, t.name, customer_name))
            } else {
                Err(EngineError::Conflict { what: "a redemption of this coupon" })
            };
        };
        let payload = serde_json::json!({ "coupon_id": done.id, "template_id": t.id, "order_ref": order_ref,
            "order_fen": r.order_fen, "off_fen": off, "store_id": store_id });
        let e = NewEvent {
            corp_id: who.corp_id,
            kind: "coupon.redeemed",
            subject: &format!("customer:{}", done.customer_id),
            actor: &by,
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        tx.commit().await?;
        Ok(Coupon::of(done, t.name, customer_name))
    }

    /// Revokes an issued coupon by hand.
    pub async fn revoke_coupon(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageCoupons)?;
        let mut tx = self.db.begin().await?;
        let k = tx.coupon_in_tx(who.corp_id, id).await?.ok_or(EngineError::NotFound("coupon"))?;
        if !tx.revoke_coupon(who.corp_id, id, now_ms()).await? {
            return Err(invalid("id", "not_issued", format!("the coupon is {}", k.state)));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues the coupon timer for every corp with issued coupons or
    /// expiring points (none for a corp whose run still waits).
    pub async fn schedule_coupon_ticks(&self) {
        let corps = match self.db.corps_with_coupon_work().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "coupon timer: cannot list corps"),
        };
        for corp_id in corps {
            match self.db.has_pending_job(corp_id, CouponTickJob::KIND).await {
                Ok(false) => {
                    if let Err(e) = self.enqueue_now(corp_id, &CouponTickJob {}).await {
                        tracing::warn!(corp = corp_id, error = %e, "coupon timer: enqueue failed");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(corp = corp_id, error = %e, "coupon timer: cannot look at the queue"),
            }
        }
    }
}

fn normalize(code: &str) -> Result<String> {
    let c = code.trim().to_uppercase();
    if c.is_empty() || c.len() > 32 {
        return Err(invalid("code", "required", "the coupon's code"));
    }
    Ok(c)
}

/// Job: one page of a segment issue; queues the next page while any is left.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CouponIssueJob {
    pub issue_id: i64,
}

impl Job for CouponIssueJob {
    const KIND: &'static str = "coupons.issue";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Vec<i64>;

    /// The segment's customers now (the index, outside the transaction).
    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Vec<i64>> {
        let Some(row) = engine.db.coupon_issue(ctx.corp_id, self.issue_id).await? else { return Ok(vec![]) };
        if row.state != "running" {
            return Ok(vec![]);
        }
        let input = crate::customers::SegmentInput::Text(row.expr.clone());
        let mut ids = engine.segment_customer_ids(&crate::campaigns::system(ctx.corp_id), &input).await?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, ids: Vec<i64>, tx: &mut Tx) -> JobResult<JobEnd> {
        let corp = ctx.corp_id;
        let Some(row) = tx.coupon_issue_in_tx(corp, self.issue_id).await? else { return Ok(JobEnd::Done) };
        if row.state != "running" {
            return Ok(JobEnd::Done);
        }
        let Some(t) = tx.coupon_template_in_tx(corp, row.template_id).await? else {
            tx.advance_coupon_issue(row.id, (0, 0, 0), row.cursor, true, now_ms()).await?;
            return Ok(JobEnd::Done);
        };
        let page: Vec<i64> = ids.into_iter().filter(|&id| id > row.cursor).take(ISSUE_PAGE).collect();
        let source_ref = format!("issue:{}", row.id);
        let now = now_ms();
        let (mut issued, mut over, mut out) = (0, 0, 0);
        for &customer in &page {
            match issue_in(tx, corp, &t, customer, "segment", &source_ref, &row.created_by, None, now).await? {
                Issued::Coupon(_) => issued += 1,
                Issued::OverLimit => over += 1,
                Issued::OutOfStock => out += 1,
                Issued::Existed => {}
            }
        }
        let done = page.len() < ISSUE_PAGE;
        let cursor = page.last().copied().unwrap_or(row.cursor);
        tx.advance_coupon_issue(row.id, (issued, over, out), cursor, done, now).await?;
        if !done {
            enqueue(tx, corp, self).await?;
        }
        Ok(JobEnd::Done)
    }
}

/// Job: the coupon timer's run for one corp: expire coupons past their
/// window, remind customers of coupons about to end through their guide,
/// expire points past their date.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CouponTickJob {}

impl Job for CouponTickJob {
    const KIND: &'static str = "coupons.tick";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = ();

    async fn prepare(&self, _: &Engine, _: &JobCtx) -> JobResult<()> {
        Ok(())
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, _: (), tx: &mut Tx) -> JobResult<JobEnd> {
        let corp = ctx.corp_id;
        let now = now_ms();
        let expired = tx.expire_coupons(corp, now, TICK_BATCH).await?;
        let reminders = tx.take_coupons_to_remind(corp, now, REMIND_AHEAD_MS, TICK_BATCH).await?;
        let n_remind = reminders.len() as i64;
        for k in reminders {
            remind(engine, tx, corp, &k).await?;
        }
        let customers = tx.customers_with_expired_points(corp, now, TICK_BATCH).await?;
        let n_points = customers.len() as i64;
        for c in customers {
            crate::points::expire_in(tx, corp, c, now).await?;
        }
        if expired as i64 == TICK_BATCH || n_remind == TICK_BATCH || n_points == TICK_BATCH {
            enqueue(tx, corp, self).await?; // more are due: go on at once
        }
        Ok(JobEnd::Done)
    }
}

/// A coupon's reminder: one guide task from the customer's guide, with a
/// link to their wallet. A customer without a guide is not reminded.
async fn remind(engine: &Engine, tx: &mut Tx, corp_id: i64, k: &CouponRow) -> Result<()> {
    let Some(guide) = tx.guide_of(corp_id, k.customer_id).await? else { return Ok(()) };
    let name = tx.coupon_template_in_tx(corp_id, k.template_id).await?.map(|t| t.name).unwrap_or_default();
    let token = crate::customers::customer_link_in(tx, corp_id, k.customer_id).await?;
    let url = format!("{}/h5/wallet?k={token}", engine.settings.public_url.trim_end_matches('/'));
    let days = ((k.valid_to - now_ms()).max(0) + 86_399_999) / 86_400_000;
    let content = GuideContent {
        text: format!("您的优惠券「{name}」还有 {days} 天到期，别忘了使用哦～"),
        link: Some(GuideLink { title: "我的券包".into(), desc: name.clone(), url }),
        attachments: Vec::new(),
    };
    let body = serde_json::to_string(&content).expect("guide content is plain data");
    let recipients = [(k.customer_id, guide.external_userid.clone())];
    let task = NewGuideTask {
        corp_id,
        purpose: REMINDER_PURPOSE,
        purpose_id: k.id,
        staff_id: guide.staff_id,
        sender: &guide.userid,
        part: 0,
        content: &body,
        recipients: &recipients,
        now: now_ms(),
    };
    plan_guide_task(tx, &task).await?;
    Ok(())
}
