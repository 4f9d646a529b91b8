//! Loss (流失): a customer deleted their guide (`del_follow_user`, already
//! a lost follow in the callback pipeline). The guide and the store's loss
//! recipients (店长) get a WeCom app message at once; each store's
//! recipients get a summary of the day before every morning
//! (Asia/Shanghai); the loss report counts them per day, store and guide.
//!
//! App messages go through the corp's self-built app: the AgentId set in
//! the group assistant's settings. With none set, alerts end `refused` with
//! that reason and still count in the report.

use crate::jobs::{enqueue, Job, JobCtx, JobResult};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::handover::{loss_alert_text, loss_summary_text, shanghai_day, summary_due};
use koi_domain::jobs::priority;
use koi_domain::ValidationError;
use koi_store::handover::LossMessage;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{AppMessageRequest, Priority};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Days the loss report covers at most.
pub const MAX_REPORT_DAYS: i64 = 92;
/// Alerts the report lists.
const RECENT_ALERTS: i64 = 200;

const UNKNOWN_NOTE: &str = "an earlier attempt may have reached WeCom without an answer; not sent again";

/// A lost follow (inside the pipeline's transaction): the alert, once. It
/// belongs to the follow's store, else the guide's first store.
pub(crate) async fn record_loss(
    tx: &mut Tx,
    corp: i64,
    customer: i64,
    staff: i64,
    store: Option<i64>,
    at: i64,
) -> Result<()> {
    let now = now_ms();
    // A follow WeCom made (a handover's takeover) names no store: the guide's.
    let store = match store {
        Some(s) => Some(s),
        None => tx.staff_first_store(corp, staff).await?,
    };
    // A callback cannot come from the future: with WeCom's clock ahead of
    // koi's, the loss counts on koi's day.
    let day = shanghai_day(at.min(now));
    if let Some(id) = tx.insert_loss_alert(corp, customer, staff, store, &day, at, now).await? {
        enqueue(tx, corp, &LossAlertJob { alert_id: id }).await?;
    }
    Ok(())
}

pub(crate) enum Sent {
    Gone,
    Ok(String),
    Refused(String, String),
    Unknown,
}

/// Sends one app message at most once: claimed (`sending`, its own commit)
/// before the call; an attempt that finds it claimed reports `Unknown`.
async fn send_once(
    engine: &Engine,
    ctx: &JobCtx,
    what: LossMessage,
    id: i64,
    state: &str,
    users: Vec<String>,
    text: String,
) -> JobResult<Sent> {
    match state {
        "sending" => return Ok(Sent::Unknown),
        "queued" => {}
        _ => return Ok(Sent::Gone),
    }
    let recipients = users.join(",");
    if users.is_empty() {
        return Ok(Sent::Refused(recipients, "no recipients".into()));
    }
    let Some(agent_id) = engine.assistant_settings_of(ctx.corp_id).await?.agent_id else {
        return Ok(Sent::Refused(recipients, "no AgentId is set for app messages".into()));
    };
    let client = engine.wecom_for(ctx.corp_id).await?;
    if !engine.db.mark_loss_sending(what, ctx.corp_id, id, true).await? {
        return Ok(Sent::Gone);
    }
    let to: Vec<&str> = users.iter().map(String::as_str).collect();
    match client.send_app_message(&AppMessageRequest::text(&to, agent_id, &text), Priority::Interactive).await {
        Ok(_) => Ok(Sent::Ok(recipients)),
        Err(e) if e.may_have_acted() => Err(e.into()),
        Err(e) => {
            engine.db.mark_loss_sending(what, ctx.corp_id, id, false).await?;
            if e.is_final() {
                Ok(Sent::Refused(recipients, e.to_string()))
            } else {
                Err(e.into())
            }
        }
    }
}

async fn finish(what: LossMessage, ctx: &JobCtx, id: i64, sent: Sent, tx: &mut Tx) -> JobResult<JobEnd> {
    let now = now_ms();
    match sent {
        Sent::Gone => Ok(JobEnd::Done),
        Sent::Ok(to) => {
            tx.finish_loss_message(what, ctx.corp_id, id, "sent", &to, "", now).await?;
            Ok(JobEnd::Done)
        }
        Sent::Refused(to, why) => {
            tx.finish_loss_message(what, ctx.corp_id, id, "refused", &to, &why, now).await?;
            Ok(JobEnd::Done)
        }
        Sent::Unknown => {
            tx.finish_loss_message(what, ctx.corp_id, id, "unknown", "", UNKNOWN_NOTE, now).await?;
            Ok(JobEnd::Done)
        }
    }
}

async fn store_name(engine: &Engine, corp: i64, store: Option<i64>) -> Result<String> {
    Ok(match store {
        Some(s) => engine.db.store(corp, s).await?.map(|s| s.name).unwrap_or_default(),
        None => String::new(),
    })
}

/// Job: tell the guide and the store's loss recipients that a customer
/// deleted the guide.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LossAlertJob {
    pub alert_id: i64,
}

impl Job for LossAlertJob {
    const KIND: &'static str = "handover.loss_alert";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Sent;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Sent> {
        let Some(a) = engine.db.loss_alert(ctx.corp_id, self.alert_id).await? else {
            return Ok(Sent::Gone);
        };
        let mut users = vec![a.staff_userid.clone()];
        if let Some(store) = a.store_id {
            for u in engine.db.loss_recipients(ctx.corp_id, store).await? {
                if !users.contains(&u) {
                    users.push(u);
                }
            }
        }
        let customer = if a.customer_name.is_empty() { format!("#{}", a.customer_id) } else { a.customer_name.clone() };
        let text = loss_alert_text(&customer, &a.staff_name, &store_name(engine, ctx.corp_id, a.store_id).await?);
        send_once(engine, ctx, LossMessage::Alert, a.id, &a.state, users, text).await
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, sent: Sent, tx: &mut Tx) -> JobResult<JobEnd> {
        finish(LossMessage::Alert, ctx, self.alert_id, sent, tx).await
    }
}

/// Job: a store's summary of a day's losses to its loss recipients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LossSummaryJob {
    pub summary_id: i64,
}

impl Job for LossSummaryJob {
    const KIND: &'static str = "handover.loss_summary";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Sent;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Sent> {
        let Some(s) = engine.db.loss_summary(ctx.corp_id, self.summary_id).await? else {
            return Ok(Sent::Gone);
        };
        let users = if s.store_id > 0 { engine.db.loss_recipients(ctx.corp_id, s.store_id).await? } else { vec![] };
        let counts = engine.db.loss_counts(ctx.corp_id, &s.day, &s.day, Some(&[s.store_id])).await?;
        let per_guide: Vec<(String, i64)> = counts.into_iter().map(|c| (c.staff_name, c.lost)).collect();
        let store = store_name(engine, ctx.corp_id, Some(s.store_id)).await?;
        let text = loss_summary_text(&s.day, &store, &per_guide);
        send_once(engine, ctx, LossMessage::Summary, s.id, &s.state, users, text).await
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, sent: Sent, tx: &mut Tx) -> JobResult<JobEnd> {
        finish(LossMessage::Summary, ctx, self.summary_id, sent, tx).await
    }
}

/// Customers lost on a day by a store's guide.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LossReportRow {
    /// `YYYY-MM-DD`, Asia/Shanghai.
    pub day: String,
    pub store_id: Option<i64>,
    pub store_name: String,
    pub staff_id: i64,
    pub staff_name: String,
    pub lost: i64,
}

/// A total per store or per guide over the report's days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LossTotal {
    pub id: Option<i64>,
    pub name: String,
    pub lost: i64,
}

/// One loss and its alert.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LossAlert {
    pub id: i64,
    pub customer_id: i64,
    pub customer_name: String,
    pub staff_id: i64,
    pub staff_name: String,
    pub store_id: Option<i64>,
    /// ms.
    pub lost_at: i64,
    /// queued, sending, sent, refused, unknown.
    pub state: String,
    /// Who got it (WeCom userids, comma-separated).
    pub recipients: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LossReport {
    pub from: String,
    pub to: String,
    pub total: i64,
    pub by_store: Vec<LossTotal>,
    pub by_guide: Vec<LossTotal>,
    /// Per day, store and guide, newest day first.
    pub rows: Vec<LossReportRow>,
    /// The latest 200 alerts.
    pub alerts: Vec<LossAlert>,
}

/// Who gets a store's loss alerts and summary.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreLossRecipients {
    pub store_id: i64,
    pub store_name: String,
    pub staff_ids: Vec<i64>,
}

impl Engine {
    /// Losses of the last `days` days (1..=92, Asia/Shanghai, today
    /// included), per day, store and guide; a store manager sees their stores.
    pub async fn loss_report(&self, who: &Principal, days: i64) -> Result<LossReport> {
        require(who, Action::ViewCustomers)?;
        if !(1..=MAX_REPORT_DAYS).contains(&days) {
            return Err(ValidationError::one("days", "out_of_range", format!("1 to {MAX_REPORT_DAYS} days")).into());
        }
        let now = now_ms();
        let (from, to) = (shanghai_day(now - (days - 1) * 86_400_000), shanghai_day(now));
        let scope = who.store_scope();
        let counts = self.db.loss_counts(who.corp_id, &from, &to, scope).await?;
        let stores: HashMap<i64, String> =
            self.db.stores(who.corp_id).await?.into_iter().map(|s| (s.id, s.name)).collect();
        let name_of = |s: Option<i64>| s.and_then(|s| stores.get(&s).cloned()).unwrap_or_default();
        let mut by_store: BTreeMap<Option<i64>, i64> = BTreeMap::new();
        let mut by_guide: BTreeMap<i64, (String, i64)> = BTreeMap::new();
        let rows: Vec<LossReportRow> = counts
            .into_iter()
            .map(|c| {
                *by_store.entry(c.store_id).or_default() += c.lost;
                let g = by_guide.entry(c.staff_id).or_insert_with(|| (c.staff_name.clone(), 0));
                g.1 += c.lost;
                LossReportRow {
                    day: c.day,
                    store_name: name_of(c.store_id),
                    store_id: c.store_id,
                    staff_id: c.staff_id,
                    staff_name: c.staff_name,
                    lost: c.lost,
                }
            })
            .collect();
        let mut by_store: Vec<LossTotal> =
            by_store.into_iter().map(|(id, lost)| LossTotal { id, name: name_of(id), lost }).collect();
        by_store.sort_by_key(|t| std::cmp::Reverse(t.lost));
        let mut by_guide: Vec<LossTotal> =
            by_guide.into_iter().map(|(id, (name, lost))| LossTotal { id: Some(id), name, lost }).collect();
        by_guide.sort_by_key(|t| std::cmp::Reverse(t.lost));
        let alerts = self
            .db
            .loss_alerts(who.corp_id, scope, RECENT_ALERTS)
            .await?
            .into_iter()
            .map(|a| LossAlert {
                id: a.id,
                customer_id: a.customer_id,
                customer_name: a.customer_name,
                staff_id: a.staff_id,
                staff_name: a.staff_name,
                store_id: a.store_id,
                lost_at: a.lost_at,
                state: a.state,
                recipients: a.recipients,
                note: a.note,
            })
            .collect();
        let total = rows.iter().map(|r| r.lost).sum();
        Ok(LossReport { from, to, total, by_store, by_guide, rows, alerts })
    }

    /// Who gets each store's loss alerts and summary.
    pub async fn loss_recipients(&self, who: &Principal) -> Result<Vec<StoreLossRecipients>> {
        require(who, Action::ManageHandovers)?;
        let mut chosen: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (store, staff) in self.db.all_loss_recipients(who.corp_id).await? {
            chosen.entry(store).or_default().push(staff);
        }
        Ok(self
            .db
            .stores(who.corp_id)
            .await?
            .into_iter()
            .map(|s| StoreLossRecipients {
                staff_ids: chosen.remove(&s.id).unwrap_or_default(),
                store_id: s.id,
                store_name: s.name,
            })
            .collect())
    }

    /// Replaces who gets a store's loss alerts and summary (besides the guide).
    pub async fn set_loss_recipients(
        &self,
        who: &Principal,
        store_id: i64,
        staff_ids: &[i64],
    ) -> Result<StoreLossRecipients> {
        require(who, Action::ManageHandovers)?;
        let store = self.db.store(who.corp_id, store_id).await?.ok_or(EngineError::NotFound("store"))?;
        let mut ids = staff_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > 20 {
            return Err(ValidationError::one("staff_ids", "too_many", "at most 20 recipients a store").into());
        }
        for id in &ids {
            if self.db.staff(who.corp_id, *id).await?.is_none() {
                return Err(ValidationError::one("staff_ids", "unknown_staff", format!("no staff member {id}")).into());
            }
        }
        let mut tx = self.db.begin().await?;
        tx.set_loss_recipients(who.corp_id, store_id, &ids).await?;
        tx.commit().await?;
        Ok(StoreLossRecipients { store_id, store_name: store.name, staff_ids: ids })
    }

    /// Makes (once) and sends the stores' summaries of `day`; returns how
    /// many were made now. The worker does this every morning for the day
    /// before; an operator may send a day's (today's so far) at once.
    pub async fn send_loss_summaries(&self, who: &Principal, day: &str) -> Result<usize> {
        require(who, Action::ManageHandovers)?;
        if koi_domain::calendar::parse_date(day).is_none() {
            return Err(ValidationError::one("day", "invalid_date", "a date as YYYY-MM-DD").into());
        }
        self.make_loss_summaries(who.corp_id, day).await
    }

    async fn make_loss_summaries(&self, corp: i64, day: &str) -> Result<usize> {
        let counts = self.db.loss_counts(corp, day, day, None).await?;
        let mut per_store: BTreeMap<i64, i64> = BTreeMap::new();
        for c in counts {
            *per_store.entry(c.store_id.unwrap_or(0)).or_default() += c.lost;
        }
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let mut made = 0;
        for (store, lost) in per_store {
            if let Some(id) = tx.insert_loss_summary(corp, store, day, lost as i32, now).await? {
                enqueue(&mut tx, corp, &LossSummaryJob { summary_id: id }).await?;
                made += 1;
            }
        }
        tx.commit().await?;
        Ok(made)
    }

    /// The worker's morning timer: yesterday's summaries, once, for corps
    /// with losses then.
    pub async fn schedule_loss_summaries(&self) {
        let Some(day) = summary_due(now_ms()) else { return };
        let corps = match self.db.corps_with_losses_on(&day).await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "loss summaries: cannot list corps"),
        };
        for corp in corps {
            if let Err(e) = self.make_loss_summaries(corp, &day).await {
                tracing::warn!(corp, error = %e, "loss summaries failed");
            }
        }
    }
}
