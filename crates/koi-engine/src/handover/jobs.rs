//! A handover's background work: the transfer calls (claimed first: a
//! transfer is not idempotent, and a second call for the same customer
//! would spend one of WeCom's two handovers in 90 days), the reads of
//! WeCom's results, and the group moves.

use crate::jobs::{enqueue_at, Job, JobCtx, JobError, JobResult};
use crate::Engine;
use koi_domain::handover::{
    fail_status, request_outcome, result_status, HandoverKind, ItemStatus, MAX_GROUP_BATCH, POLL_AFTER_MS,
};
use koi_domain::jobs::priority;
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    GroupchatTransferRequest, Priority, ResignedTransferCustomerRequest, TransferCustomerRequest, TransferResultRequest,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a batch whose outcome is unknown says.
const UNKNOWN_NOTE: &str = "an earlier attempt may have reached WeCom without an answer; not sent again";

/// Job: one `transfer_customer` (or `resigned/transfer_customer`) call for
/// a batch of at most 100 customers of one receiver, made once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BatchJob {
    pub batch_id: i64,
}

pub(crate) enum Sent {
    /// Already sent or ended.
    Gone,
    /// Per customer, WeCom's errcode.
    Ok(Vec<(String, i64)>),
    Refused(String),
    Unknown,
}

impl Job for BatchJob {
    const KIND: &'static str = "handover.transfer";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Sent;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Sent> {
        let Some(b) = engine.db.handover_batch(ctx.corp_id, self.batch_id).await? else {
            return Ok(Sent::Gone);
        };
        match b.state.as_str() {
            "sending" => return Ok(Sent::Unknown),
            "queued" => {}
            _ => return Ok(Sent::Gone),
        }
        let Some(h) = engine.db.handover(ctx.corp_id, b.handover_id).await? else {
            return Ok(Sent::Gone);
        };
        let customers = engine.db.batch_customers(ctx.corp_id, b.id).await?;
        let client = engine.wecom_for(ctx.corp_id).await?;
        if !engine.db.mark_batch_sending(ctx.corp_id, b.id, true).await? {
            return Ok(Sent::Gone);
        }
        let answer = if HandoverKind::parse(&h.kind) == Some(HandoverKind::OnJob) {
            let req = TransferCustomerRequest {
                handover_userid: h.from_userid.clone(),
                takeover_userid: b.receiver_userid.clone(),
                external_userid: customers,
                transfer_success_msg: (!h.message.is_empty()).then(|| h.message.clone()),
            };
            client.transfer_customer(&req, Priority::Bulk).await
        } else {
            let req = ResignedTransferCustomerRequest {
                handover_userid: h.from_userid.clone(),
                takeover_userid: b.receiver_userid.clone(),
                external_userid: customers,
            };
            client.resigned_transfer_customer(&req, Priority::Bulk).await
        };
        match answer {
            Ok(r) => Ok(Sent::Ok(r.customer.into_iter().map(|c| (c.external_userid, c.errcode.0)).collect())),
            Err(e) if e.may_have_acted() => Err(e.into()),
            Err(e) => {
                engine.db.mark_batch_sending(ctx.corp_id, b.id, false).await?;
                if e.is_final() {
                    Ok(Sent::Refused(e.to_string()))
                } else {
                    Err(e.into())
                }
            }
        }
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, sent: Sent, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        let (corp, id) = (ctx.corp_id, self.batch_id);
        let Some(b) = engine.db.handover_batch(corp, id).await? else {
            return Ok(JobEnd::Done);
        };
        match sent {
            Sent::Gone => Ok(JobEnd::Done),
            Sent::Ok(outcomes) => {
                if !tx.finish_batch(corp, id, "sent", "", now).await? {
                    return Ok(JobEnd::Done);
                }
                for (ext, code) in outcomes {
                    let (status, reason) = match request_outcome(code) {
                        None => (ItemStatus::Waiting, String::new()),
                        Some(o) => o,
                    };
                    tx.set_item_status(corp, b.handover_id, &ext, status.as_str(), &reason, None, now).await?;
                }
                Ok(JobEnd::Done)
            }
            Sent::Refused(why) => {
                tx.finish_batch(corp, id, "refused", &why, now).await?;
                tx.set_batch_items(corp, id, ItemStatus::Failed.as_str(), "refused_by_wecom", now).await?;
                Ok(JobEnd::Refused(why))
            }
            Sent::Unknown => {
                tx.finish_batch(corp, id, "unknown", UNKNOWN_NOTE, now).await?;
                tx.set_batch_items(corp, id, ItemStatus::Unknown.as_str(), "outcome_unknown", now).await?;
                Ok(JobEnd::Done)
            }
        }
    }
}

/// Job: read a handover's results (`transfer_result`) for each receiver
/// with customers still open. `round` is its place in [`POLL_AFTER_MS`];
/// `None` is a read an operator asked for, which schedules nothing after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PollJob {
    pub handover_id: i64,
    pub round: Option<usize>,
}

/// (receiver staff id, external_userid, WeCom status, takeover time in s).
pub(crate) type Results = Vec<(i64, String, i32, Option<i64>)>;

impl Job for PollJob {
    const KIND: &'static str = "handover.read_results";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Option<Results>;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Option<Results>> {
        let Some(h) = engine.db.handover(ctx.corp_id, self.handover_id).await? else {
            return Ok(None);
        };
        let receivers = engine.db.handover_open_receivers(ctx.corp_id, h.id).await?;
        if h.state == "done" && receivers.is_empty() {
            return Ok(None);
        }
        let client = engine.wecom_for(ctx.corp_id).await?;
        let on_job = HandoverKind::parse(&h.kind) == Some(HandoverKind::OnJob);
        let mut out = Vec::new();
        for (staff_id, userid) in receivers {
            // WeCom lists every handover between the two; the latest per customer counts.
            let mut latest: HashMap<String, (i32, Option<i64>)> = HashMap::new();
            let mut cursor = None;
            loop {
                let req = TransferResultRequest {
                    handover_userid: h.from_userid.clone(),
                    takeover_userid: userid.clone(),
                    cursor: cursor.take(),
                };
                let page = if on_job {
                    client.transfer_result(&req, Priority::Bulk).await?
                } else {
                    client.resigned_transfer_result(&req, Priority::Bulk).await?
                };
                for c in page.customer {
                    latest.insert(c.external_userid, (c.status, c.takeover_time));
                }
                if page.next_cursor.is_empty() {
                    break;
                }
                cursor = Some(page.next_cursor);
            }
            out.extend(latest.into_iter().map(|(ext, (s, t))| (staff_id, ext, s, t)));
        }
        Ok(Some(out))
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, read: Option<Results>, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        let (corp, id) = (ctx.corp_id, self.handover_id);
        let Some(results) = read else {
            return Ok(JobEnd::Done);
        };
        let Some(h) = engine.db.handover(corp, id).await? else {
            return Ok(JobEnd::Done);
        };
        for (receiver, ext, status, takeover) in results {
            let (status, reason) = result_status(status);
            let at = takeover.map(|s| s.saturating_mul(1000));
            if !tx.set_item_status(corp, id, &ext, status.as_str(), reason, at, now).await? {
                continue;
            }
            if status == ItemStatus::Accepted {
                take_over(tx, corp, h.id, h.from_staff_id, receiver, &ext, at.unwrap_or(now), now).await?;
            }
        }
        let open = tx.handover_has_open_items(corp, id).await?;
        tx.note_handover_poll(corp, id, !open, now).await?;
        if let (true, Some(r)) = (open, self.round) {
            if r + 1 < POLL_AFTER_MS.len() {
                let next = PollJob { handover_id: id, round: Some(r + 1) };
                enqueue_at(tx, corp, &next, now + POLL_AFTER_MS[r + 1], now).await?;
            }
        }
        Ok(JobEnd::Done)
    }
}

/// Moves koi's follow of a customer who accepted to the receiver: the
/// guide's follow ends (`transfer`, not a loss), the receiver's begins with
/// the old follow's store and code. WeCom's own callbacks for the same
/// takeover find it done.
#[allow(clippy::too_many_arguments)]
async fn take_over(
    tx: &mut Tx,
    corp: i64,
    handover_id: i64,
    from: i64,
    receiver: i64,
    ext: &str,
    at: i64,
    now: i64,
) -> JobResult<()> {
    let Some(customer) = tx.customer_id(corp, ext).await? else {
        return Ok(());
    };
    let old = tx.follow(corp, customer, from).await?;
    tx.mark_follow_deleted(corp, customer, from, "transfer", at).await?;
    let (store, code) = old.map_or((None, None), |f| (f.store_id, f.code_id));
    tx.take_over_follow(corp, customer, receiver, store, code, at, now).await?;
    let payload = serde_json::json!({ "handover_id": handover_id, "from_staff_id": from, "to_staff_id": receiver });
    let e = NewEvent {
        corp_id: corp,
        kind: "customer.handed_over",
        subject: &format!("customer:{customer}"),
        actor: "wecom",
        payload: &payload.to_string(),
        dedup_key: Some(&format!("handover:{handover_id}:{customer}")),
        occurred_at: at,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}

/// A `transfer_fail` callback (in the pipeline's transaction): the customer
/// refused, or the receiver is at their limit. It names the receiver and
/// the customer; every handover of the two still waiting takes it.
pub(crate) async fn record_transfer_fail(
    tx: &mut Tx,
    corp: i64,
    receiver_userid: &str,
    ext: &str,
    reason: &str,
) -> crate::Result<()> {
    let Some(receiver) = tx.staff_id_by_userid(corp, receiver_userid).await? else {
        return Ok(());
    };
    let (status, reason) = fail_status(reason);
    let now = now_ms();
    for id in tx.waiting_handovers_of(corp, ext, receiver).await? {
        tx.set_item_status(corp, id, ext, status.as_str(), reason, None, now).await?;
    }
    Ok(())
}

/// Job: move a handover's groups to the receiver (`groupchat/transfer` for
/// a guide who left, `groupchat/onjob_transfer` otherwise), 100 a call.
/// Setting an owner twice is harmless, so a retry simply calls again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GroupsJob {
    pub handover_id: i64,
}

/// (group id, receiver, moved or WeCom's reason).
pub(crate) type GroupResults = Vec<(i64, i64, String, Result<(), String>)>;

impl Job for GroupsJob {
    const KIND: &'static str = "handover.transfer_groups";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = GroupResults;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<GroupResults> {
        let Some(h) = engine.db.handover(ctx.corp_id, self.handover_id).await? else {
            return Ok(vec![]);
        };
        let groups = engine.db.handover_planned_groups(ctx.corp_id, h.id).await?;
        if groups.is_empty() {
            return Ok(vec![]);
        }
        let client = engine.wecom_for(ctx.corp_id).await?;
        let on_job = HandoverKind::parse(&h.kind) == Some(HandoverKind::OnJob);
        let mut out = Vec::new();
        for chunk in groups.chunks(MAX_GROUP_BATCH) {
            let owner = chunk[0].receiver_userid.clone();
            let req = GroupchatTransferRequest {
                chat_id_list: chunk.iter().map(|g| g.chat_id.clone()).collect(),
                new_owner: owner.clone(),
            };
            let answer = if on_job {
                client.groupchat_onjob_transfer(&req, Priority::Bulk).await
            } else {
                client.groupchat_transfer(&req, Priority::Bulk).await
            };
            let failed: HashMap<String, String> = match answer {
                Ok(r) => {
                    r.failed_chat_list.into_iter().map(|f| (f.chat_id, format!("wecom_{}", f.errcode.0))).collect()
                }
                Err(e) if e.is_final() => chunk.iter().map(|g| (g.chat_id.clone(), e.to_string())).collect(),
                Err(e) => return Err(JobError::from(e)),
            };
            for g in chunk {
                let result = failed.get(&g.chat_id).map_or(Ok(()), |why| Err(why.clone()));
                out.push((g.group_id, g.receiver_staff_id, g.receiver_userid.clone(), result));
            }
        }
        Ok(out)
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, results: GroupResults, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        for (group, staff, userid, result) in results {
            let (moved, reason) = match &result {
                Ok(()) => (Some((staff, userid.as_str())), ""),
                Err(why) => (None, why.as_str()),
            };
            tx.set_handover_group(ctx.corp_id, self.handover_id, group, moved, reason, now).await?;
        }
        Ok(JobEnd::Done)
    }
}
