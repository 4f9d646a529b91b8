//! Handover (继承) and loss (流失).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | use cases: preview and start a handover, its progress and per-customer results, refresh |
//! | `jobs.rs` | [`BatchJob`] (one `transfer_customer` call of ≤100 customers, claimed before the call), [`PollJob`] (`transfer_result` until every customer is final; accepted ones move koi's follows), [`GroupsJob`] (`groupchat/transfer`), and the `transfer_fail` callback |
//! | `loss.rs` | a customer deleting their guide: the alert to the guide and the store's loss recipients, the daily summary per store, the loss report |
//!
//! WeCom's own callbacks for a takeover (`del_external_contact` with
//! `DELETE_BY_TRANSFER`, then `add_external_contact`) go through the
//! callback pipeline as any other: whichever of them and koi's poll comes
//! first moves the follow, and the others find it moved.

mod jobs;
mod loss;

pub(crate) use jobs::{record_transfer_fail, BatchJob, GroupsJob, PollJob};
pub(crate) use loss::{record_loss, LossAlertJob, LossSummaryJob};
pub use loss::{LossAlert, LossReport, LossReportRow, LossTotal, StoreLossRecipients};

use crate::jobs::{enqueue, enqueue_at};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::handover::{
    assign_receivers, over_limit, HandoverDraft, HandoverKind, ItemStatus, Receiver, LIMIT_WINDOW_MS, MAX_BATCH,
    POLL_AFTER_MS,
};
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::handover::{HandoverRow, NewHandover, NewItem, StatusCount};
use koi_store::now_ms;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Handovers one list shows.
pub const HANDOVERS_LIMIT: i64 = 200;
/// Customers a handover's page shows.
pub const ITEMS_LIMIT: i64 = 2_000;

/// Customers per status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusCounts {
    pub total: i64,
    /// Not final yet: planned, being sent, or waiting for the customer.
    pub pending: i64,
    pub accepted: i64,
    pub refused: i64,
    pub receiver_full: i64,
    pub over_limit: i64,
    pub failed: i64,
    pub unknown: i64,
}

impl StatusCounts {
    fn add(&mut self, status: &str, n: i64) {
        self.total += n;
        match ItemStatus::parse(status) {
            Some(ItemStatus::Accepted) => self.accepted += n,
            Some(ItemStatus::Refused) => self.refused += n,
            Some(ItemStatus::ReceiverFull) => self.receiver_full += n,
            Some(ItemStatus::OverLimit) => self.over_limit += n,
            Some(ItemStatus::Failed) => self.failed += n,
            Some(ItemStatus::Unknown) => self.unknown += n,
            _ => self.pending += n,
        }
    }
}

/// A handover with its totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Handover {
    pub id: i64,
    /// on_leave or on_job.
    pub kind: String,
    pub from_staff_id: i64,
    pub from_userid: String,
    pub from_name: String,
    pub message: String,
    pub include_groups: bool,
    /// running, or done once every customer has WeCom's final word.
    pub state: String,
    pub counts: StatusCounts,
    pub created_by: String,
    /// ms.
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One receiver's share.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiverResult {
    pub staff_id: i64,
    pub name: String,
    pub counts: StatusCounts,
}

/// A customer of a handover and WeCom's word on them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HandoverItem {
    pub customer_id: i64,
    pub customer_name: String,
    pub external_userid: String,
    pub receiver_staff_id: i64,
    pub receiver_name: String,
    /// planned, sending, waiting, accepted, refused, receiver_full,
    /// over_limit, failed, unknown.
    pub status: String,
    /// koi_90_days (skipped before the call), wecom_40128, customer_refused,
    /// customer_limit_exceed, no_relation, no_record, outcome_unknown…
    pub reason: String,
    /// When the customer moved (ms).
    pub takeover_at: Option<i64>,
}

/// A group of a handover.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HandoverGroup {
    pub group_id: i64,
    pub chat_id: String,
    pub name: String,
    pub receiver_userid: String,
    /// planned, moved or failed.
    pub status: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HandoverDetail {
    pub handover: Handover,
    pub receivers: Vec<ReceiverResult>,
    /// At most 2,000, by customer id.
    pub items: Vec<HandoverItem>,
    pub groups: Vec<HandoverGroup>,
}

/// What a handover would do, before it starts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HandoverPreview {
    /// Customers that would be handed over.
    pub customers: i64,
    /// Customers skipped: handed over twice in the last 90 days.
    pub over_limit: i64,
    pub receivers: Vec<ReceiverShare>,
    /// Groups the guide owns that would move.
    pub groups: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiverShare {
    pub staff_id: i64,
    pub name: String,
    pub customers: i64,
}

/// (customer id, external_userid, store, receiver, skipped over the limit).
type Planned = (i64, String, Option<i64>, i64, bool);

/// A handover worked out: who goes where.
struct Plan {
    draft: HandoverDraft,
    /// (customer id, external_userid, store, receiver, skipped over the limit).
    customers: Vec<Planned>,
    receivers: Vec<(i64, String)>,
    groups: Vec<(i64, String)>,
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> EngineError {
    ValidationError::one(field, code, message).into()
}

fn view(row: HandoverRow, counts: StatusCounts) -> Handover {
    Handover {
        id: row.id,
        kind: row.kind,
        from_staff_id: row.from_staff_id,
        from_userid: row.from_userid,
        from_name: row.from_name,
        message: row.message,
        include_groups: row.include_groups,
        state: row.state,
        counts,
        created_by: row.created_by,
        created_at: row.created_at,
        finished_at: row.finished_at,
    }
}

fn totals(counts: &[StatusCount], id: i64) -> StatusCounts {
    let mut t = StatusCounts::default();
    for c in counts.iter().filter(|c| c.handover_id == id) {
        t.add(&c.status, c.n);
    }
    t
}

impl Engine {
    /// The corp's handovers, newest first, with their totals.
    pub async fn handovers(&self, who: &Principal) -> Result<Vec<Handover>> {
        require(who, Action::ManageHandovers)?;
        let rows = self.db.handovers(who.corp_id, HANDOVERS_LIMIT).await?;
        let (lo, hi) = (rows.last().map_or(0, |r| r.id), rows.first().map_or(0, |r| r.id));
        let counts = self.db.handover_counts(who.corp_id, lo, hi).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let t = totals(&counts, r.id);
                view(r, t)
            })
            .collect())
    }

    /// A handover with its numbers per receiver, its customers (narrowed to
    /// one `status` when given) and its groups.
    pub async fn handover(&self, who: &Principal, id: i64, status: Option<&str>) -> Result<HandoverDetail> {
        require(who, Action::ManageHandovers)?;
        let row = self.db.handover(who.corp_id, id).await?.ok_or(EngineError::NotFound("handover"))?;
        if let Some(s) = status.filter(|s| ItemStatus::parse(s).is_none()) {
            return Err(invalid("status", "invalid_status", format!("no status {s:?}")));
        }
        let counts = self.db.handover_counts(who.corp_id, id, id).await?;
        let staff: HashMap<i64, String> =
            self.db.staff_list(who.corp_id).await?.into_iter().map(|s| (s.id, s.name)).collect();
        let mut by_receiver: BTreeMap<i64, StatusCounts> = BTreeMap::new();
        for c in &counts {
            by_receiver.entry(c.receiver_staff_id).or_default().add(&c.status, c.n);
        }
        let receivers = by_receiver
            .into_iter()
            .map(|(staff_id, counts)| ReceiverResult {
                staff_id,
                name: staff.get(&staff_id).cloned().unwrap_or_default(),
                counts,
            })
            .collect();
        let items = self
            .db
            .handover_items(who.corp_id, id, status, ITEMS_LIMIT)
            .await?
            .into_iter()
            .map(|i| HandoverItem {
                customer_id: i.customer_id,
                customer_name: i.customer_name,
                external_userid: i.external_userid,
                receiver_staff_id: i.receiver_staff_id,
                receiver_name: i.receiver_name,
                status: i.status,
                reason: i.reason,
                takeover_at: i.takeover_at,
            })
            .collect();
        let groups = self
            .db
            .handover_groups(who.corp_id, id)
            .await?
            .into_iter()
            .map(|g| HandoverGroup {
                group_id: g.group_id,
                chat_id: g.chat_id,
                name: g.name,
                receiver_userid: g.receiver_userid,
                status: g.status,
                reason: g.reason,
            })
            .collect();
        Ok(HandoverDetail { handover: view(row, totals(&counts, id)), receivers, items, groups })
    }

    async fn plan_handover(&self, who: &Principal, draft: &HandoverDraft) -> Result<Plan> {
        require(who, Action::ManageHandovers)?;
        let d = draft.validate()?;
        let from = self
            .db
            .staff(who.corp_id, d.from_staff_id)
            .await?
            .ok_or_else(|| invalid("from_staff_id", "unknown_staff", "no such guide"))?;
        if d.kind == HandoverKind::OnJob && !from.active {
            return Err(invalid("kind", "guide_left", "the guide has left: use an on-leave handover"));
        }
        let mut receivers = Vec::new();
        let mut names = Vec::new();
        for id in &d.receiver_ids {
            match self.db.staff(who.corp_id, *id).await? {
                Some(s) if s.active => {
                    receivers.push(Receiver { staff_id: s.id, store_ids: s.store_ids.clone() });
                    names.push((s.id, s.name));
                }
                _ => return Err(invalid("receiver_ids", "unknown_staff", format!("no active guide {id}"))),
            }
        }
        let mut followed = self.db.followed_customers(who.corp_id, from.id).await?;
        if !d.customer_ids.is_empty() {
            let wanted: std::collections::HashSet<i64> = d.customer_ids.iter().copied().collect();
            followed.retain(|f| wanted.contains(&f.customer_id));
            if followed.len() != wanted.len() {
                return Err(invalid("customer_ids", "not_followed", "some customers are not this guide's"));
            }
        }
        let groups = if d.include_groups { self.db.groups_owned_by(who.corp_id, from.id).await? } else { vec![] };
        if followed.is_empty() && groups.is_empty() {
            return Err(invalid("from_staff_id", "nothing_to_hand_over", "the guide has no customers or groups"));
        }
        let now = now_ms();
        let ids: Vec<i64> = followed.iter().map(|f| f.customer_id).collect();
        let mut past: HashMap<i64, Vec<i64>> = HashMap::new();
        for (c, at) in self.db.recent_handovers(who.corp_id, &ids, now - LIMIT_WINDOW_MS).await? {
            past.entry(c).or_default().push(at);
        }
        let pairs: Vec<((i64, String), Option<i64>)> =
            followed.into_iter().map(|f| ((f.customer_id, f.external_userid), f.store_id)).collect();
        let stores: HashMap<i64, Option<i64>> = pairs.iter().map(|((c, _), s)| (*c, *s)).collect();
        let customers = assign_receivers(&pairs, &receivers)
            .into_iter()
            .map(|((c, ext), r)| {
                let skip = past.get(&c).is_some_and(|p| over_limit(p, now));
                (c, ext, stores[&c], r, skip)
            })
            .collect();
        Ok(Plan { draft: d, customers, receivers: names, groups })
    }

    /// What a handover would do: customers per receiver, those over the
    /// 90-day limit, groups. Nothing is kept.
    pub async fn preview_handover(&self, who: &Principal, draft: &HandoverDraft) -> Result<HandoverPreview> {
        let plan = self.plan_handover(who, draft).await?;
        Ok(preview_of(&plan))
    }

    /// Starts a handover: the customers in batches of 100 per receiver (each
    /// one `transfer_customer` call, made once), those over WeCom's 90-day
    /// limit skipped with the reason, the guide's groups, and the reads of
    /// WeCom's results — all in one transaction.
    pub async fn create_handover(&self, who: &Principal, draft: &HandoverDraft) -> Result<HandoverDetail> {
        let plan = self.plan_handover(who, draft).await?;
        let d = &plan.draft;
        let now = now_ms();
        let corp = who.corp_id;
        let mut tx = self.db.begin().await?;
        let new = NewHandover {
            corp_id: corp,
            kind: d.kind.as_str(),
            from_staff_id: d.from_staff_id,
            message: &d.message,
            include_groups: d.include_groups,
            created_by: &actor(who),
            now,
        };
        let id = tx.insert_handover(&new).await?;
        let mut skipped = Vec::new();
        let mut per_receiver: BTreeMap<i64, Vec<&Planned>> = BTreeMap::new();
        for c in &plan.customers {
            if c.4 {
                skipped.push(NewItem {
                    customer_id: c.0,
                    external_userid: &c.1,
                    receiver_staff_id: c.3,
                    batch_id: None,
                    store_id: c.2,
                    status: ItemStatus::OverLimit.as_str(),
                    reason: "koi_90_days",
                });
            } else {
                per_receiver.entry(c.3).or_default().push(c);
            }
        }
        tx.insert_handover_items(corp, id, &skipped, now).await?;
        for (receiver, customers) in per_receiver {
            for chunk in customers.chunks(MAX_BATCH) {
                let batch = tx.insert_handover_batch(corp, id, receiver, now).await?;
                let items: Vec<NewItem> = chunk
                    .iter()
                    .map(|c| NewItem {
                        customer_id: c.0,
                        external_userid: &c.1,
                        receiver_staff_id: receiver,
                        batch_id: Some(batch),
                        store_id: c.2,
                        status: ItemStatus::Planned.as_str(),
                        reason: "",
                    })
                    .collect();
                tx.insert_handover_items(corp, id, &items, now).await?;
                enqueue(&mut tx, corp, &BatchJob { batch_id: batch }).await?;
            }
        }
        if !plan.groups.is_empty() {
            let receiver = d.receiver_ids[0];
            for (group_id, chat_id) in &plan.groups {
                tx.insert_handover_group(corp, id, *group_id, chat_id, receiver, now).await?;
            }
            enqueue(&mut tx, corp, &GroupsJob { handover_id: id }).await?;
        }
        let poll = PollJob { handover_id: id, round: Some(0) };
        enqueue_at(&mut tx, corp, &poll, now + POLL_AFTER_MS[0], now).await?;
        let p = preview_of(&plan);
        let payload = serde_json::json!({ "kind": d.kind.as_str(), "from_staff_id": d.from_staff_id,
            "receivers": d.receiver_ids, "customers": p.customers, "over_limit": p.over_limit, "groups": p.groups });
        let e = NewEvent {
            corp_id: corp,
            kind: "handover.created",
            subject: &format!("handover:{id}"),
            actor: &actor(who),
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        tx.commit().await?;
        self.handover(who, id, None).await
    }

    /// Reads WeCom's results of a handover now instead of at the next
    /// scheduled read.
    pub async fn refresh_handover(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageHandovers)?;
        self.db.handover(who.corp_id, id).await?.ok_or(EngineError::NotFound("handover"))?;
        self.enqueue_now(who.corp_id, &PollJob { handover_id: id, round: None }).await?;
        Ok(())
    }
}

fn preview_of(plan: &Plan) -> HandoverPreview {
    let mut per: BTreeMap<i64, i64> = BTreeMap::new();
    let mut over = 0;
    for c in &plan.customers {
        if c.4 {
            over += 1;
        } else {
            *per.entry(c.3).or_default() += 1;
        }
    }
    HandoverPreview {
        customers: plan.customers.len() as i64 - over,
        over_limit: over,
        receivers: plan
            .receivers
            .iter()
            .map(|(id, name)| ReceiverShare {
                staff_id: *id,
                name: name.clone(),
                customers: per.get(id).copied().unwrap_or(0),
            })
            .collect(),
        groups: plan.groups.len() as i64,
    }
}
