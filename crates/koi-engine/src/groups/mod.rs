//! Customer groups (社群): koi's copy of the corp's WeCom groups, kept in
//! step by jobs, and the use cases operators reach them through.
//!
//! | item | what |
//! |---|---|
//! | `GroupSyncJob` | re-reads one group (`groupchat/get`) and records the change |
//! | `GroupFullSyncJob` | lists every group (`groupchat/list`) and syncs each |
//! | `codes.rs` | group live codes (群活码): made, edited and deleted with their WeCom join ways; the nearest-store landing |
//! | `poster.rs` | a group code's printable poster (QR, title, store) from a poster template or the built-in layout |
//! | `rotation.rs` | `GroupCodeRotateJob`: keeps a code's join way on its next groups with room; adopts WeCom's new rooms |
//! | use cases | list (filters: kind, store, owner, size, activity), detail with members, set kind and store, ask for a sync |
//! | `metrics.rs` | group metrics per group, kind or store by day |
//! | `pulls.rs` | group pulls (标签拉群) through the guides' tasks, with results per guide; invitations after a first order |
//! | [`assistant`] | the group assistant: the feed, keyword replies, sensitive-word alerts, welcome templates |
//!
//! WeCom's callbacks are only triggers: each `change_external_chat` enqueues
//! a `GroupSyncJob` that reads the group again, so a lost, repeated or
//! reordered callback still leaves koi with WeCom's membership. A join or a
//! leave of a customer koi knows is a customer event (`customer.group_joined`,
//! `customer.group_left`), recorded once per stay (the event's dedup key names
//! the member's WeCom join time), and a join goes through the behaviour path
//! (counters, lifecycle, tag rules) in the same transaction.

mod codes;
mod poster;
mod rotation;

pub use poster::GroupPosterRequest;

pub use codes::{CodeGroupStatus, GroupCode, GroupCodeDetail, GroupCodeStorePick};
pub(crate) use rotation::GroupCodeRotateJob;
mod metrics;

pub use metrics::{MetricsQuery, MetricsReport, MetricsRow};
mod pulls;

pub(crate) use pulls::invite_after_first_order;
pub use pulls::{
    invitation_link, FirstOrderInviteView, GroupPull, GroupPullDetail, GuidePullResult, UnsentCustomer, PULLS_LIMIT,
    UNSENT_LIMIT,
};
pub mod assistant;

pub(crate) use assistant::{AlertJob, FeedJob, ReplyJob};

use crate::campaigns::{record_arrival, record_invitee_left, record_move_join, record_move_leave, Arrival, Via};
use crate::jobs::{enqueue, enqueue_at, Job, JobCtx, JobResult};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::campaign::EntryOf;
use koi_domain::channel::{Attribution, ChannelState};
use koi_domain::customer::{Behaviour, ValueRules};
use koi_domain::group::{diff_members, member_type, GroupEdit, MemberSnapshot, MEMBER_CUSTOMER};
use koi_domain::jobs::priority;
use koi_store::events::NewEvent;
use koi_store::groups::{GroupFilter, GroupMemberRow, GroupRow, GroupState, NewMember};
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{GroupChat, GroupchatGetRequest, GroupchatListRequest, Priority};
use koi_wecom::ErrCode;
use serde::{Deserialize, Serialize};

/// How long after a member-change callback koi reads the group: WeCom
/// updates group details asynchronously (CONTRACT.md, ~2 s).
pub(crate) const READ_DELAY_MS: i64 = 2_000;

/// Job: read one group from WeCom and record what changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct GroupSyncJob {
    pub chat_id: String,
    /// The callback said the group was dismissed: nothing to read.
    #[serde(default)]
    pub dismissed: bool,
    /// The member_version a member-change callback announced: a group koi
    /// holds at that version already is not read again (a repeated callback).
    #[serde(default)]
    pub member_version: Option<String>,
    /// When koi received the callback, ms: a read recorded at least
    /// [`READ_DELAY_MS`] after it already shows its change, so a burst of
    /// callbacks about one group costs one read, not one each.
    #[serde(default)]
    pub seen_at: Option<i64>,
}

/// What reading a group found.
pub(crate) enum GroupRead {
    /// WeCom's state, read from `read_at` on.
    Found { chat: Box<GroupChat>, read_at: i64, rules: Box<ValueRules> },
    /// WeCom no longer has the group (dismissed; its callback may be lost).
    Gone { read_at: i64 },
    /// koi holds the announced member version already.
    Current,
}

impl Job for GroupSyncJob {
    const KIND: &'static str = "groups.sync_one";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = GroupRead;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<GroupRead> {
        let read_at = now_ms();
        if self.dismissed {
            return Ok(GroupRead::Gone { read_at });
        }
        if self.member_version.is_some() || self.seen_at.is_some() {
            let known = engine.db.group_by_chat_id(ctx.corp_id, &self.chat_id).await?;
            let current = known.is_some_and(|g| {
                g.status == koi_domain::group::STATUS_ACTIVE
                    && (self.member_version.as_ref() == Some(&g.member_version)
                        || self.seen_at.is_some_and(|t| g.synced_at >= t + READ_DELAY_MS))
            });
            if current {
                return Ok(GroupRead::Current);
            }
        }
        let client = engine.wecom_for(ctx.corp_id).await?;
        let req = GroupchatGetRequest { chat_id: self.chat_id.clone(), need_name: Some(1) };
        match client.groupchat_get(&req, Priority::Bulk).await {
            Ok(r) => {
                let rules = engine.value_rules_of(ctx.corp_id).await?;
                Ok(GroupRead::Found { chat: Box::new(r.group_chat), read_at, rules: Box::new(rules) })
            }
            Err(e) if e.is(ErrCode::INVALID_CHAT_ID) => Ok(GroupRead::Gone { read_at }),
            Err(e) => Err(e.into()),
        }
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, read: GroupRead, tx: &mut Tx) -> JobResult<JobEnd> {
        match read {
            GroupRead::Current => {}
            GroupRead::Gone { read_at } => engine.record_group_gone(tx, ctx.corp_id, &self.chat_id, read_at).await?,
            GroupRead::Found { chat, read_at, rules } => {
                engine.record_group_read(tx, ctx.corp_id, &chat, read_at, &rules).await?;
            }
        }
        Ok(JobEnd::Done)
    }
}

/// Job: list every group of the corp and sync each one (a [`GroupSyncJob`]
/// per group, so no transaction holds the whole corp); groups koi holds as
/// active that WeCom no longer lists are read too, and so end dismissed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GroupFullSyncJob {
    pub requested_by: String,
}

/// Groups per `groupchat/list` page (WeCom's maximum).
const LIST_PAGE: u32 = 1000;

impl Job for GroupFullSyncJob {
    const KIND: &'static str = "groups.sync";
    type Prepared = (Vec<String>, Vec<String>);

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<(Vec<String>, Vec<String>)> {
        let client = engine.wecom_for(ctx.corp_id).await?;
        let mut listed = Vec::new();
        let mut cursor = None;
        loop {
            let req = GroupchatListRequest { status_filter: Some(0), owner_filter: None, cursor, limit: LIST_PAGE };
            let page = client.groupchat_list(&req, Priority::Bulk).await?;
            listed.extend(page.group_chat_list.into_iter().map(|g| g.chat_id));
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = Some(page.next_cursor);
        }
        let known = engine.db.active_chat_ids(ctx.corp_id).await?;
        Ok((listed, known))
    }

    async fn record(
        &self,
        _: &Engine,
        ctx: &JobCtx,
        (listed, known): Self::Prepared,
        tx: &mut Tx,
    ) -> JobResult<JobEnd> {
        let now = now_ms();
        let listed_set: std::collections::HashSet<&String> = listed.iter().collect();
        let missing: Vec<&String> = known.iter().filter(|c| !listed_set.contains(c)).collect();
        for chat_id in listed.iter().chain(missing.iter().copied()) {
            let job = GroupSyncJob { chat_id: chat_id.clone(), ..Default::default() };
            enqueue(tx, ctx.corp_id, &job).await?;
        }
        let summary = serde_json::json!({ "listed": listed.len(), "missing": missing.len() });
        let e = NewEvent {
            corp_id: ctx.corp_id,
            kind: "groups.sync_started",
            subject: &format!("corp:{}", ctx.corp_id),
            actor: &self.requested_by,
            payload: &summary.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        Ok(JobEnd::Done)
    }
}

/// A customer group (客户群) as koi keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    /// WeCom's chat id (`wr…`).
    pub chat_id: String,
    pub name: String,
    /// The owner's WeCom userid, and the staff member when koi knows them.
    pub owner_userid: String,
    pub owner_staff_id: Option<i64>,
    pub notice: String,
    /// paid, unpaid, education, vip, store or custom (set by an operator).
    pub kind: String,
    pub store_id: Option<i64>,
    pub member_version: String,
    /// active or dismissed.
    pub status: String,
    /// Present members.
    pub members: i32,
    /// When WeCom created the group, ms.
    pub created_at: i64,
    /// When the state shown was read from WeCom, ms.
    pub synced_at: i64,
}

impl From<GroupRow> for Group {
    fn from(g: GroupRow) -> Self {
        Group {
            id: g.id,
            chat_id: g.chat_id,
            name: g.name,
            owner_userid: g.owner_userid,
            owner_staff_id: g.owner_staff_id,
            notice: g.notice,
            kind: g.kind,
            store_id: g.store_id,
            member_version: g.member_version,
            status: g.status,
            members: g.members,
            created_at: g.created_at,
            synced_at: g.synced_at,
        }
    }
}

/// One stay of a member in a group.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupMember {
    /// WeCom userid (staff) or external_userid (customer).
    pub userid: String,
    /// staff or customer.
    pub member_type: String,
    /// The koi customer, when koi knows them (not every member is a friend).
    pub customer_id: Option<i64>,
    pub name: String,
    /// WeCom's join time, Unix seconds.
    pub join_time: i64,
    /// 1 invited, 2 link, 3 QR.
    pub join_scene: i32,
    pub invitor: String,
    /// When koi saw them gone, ms; absent while they are in the group.
    pub left_at: Option<i64>,
}

impl From<GroupMemberRow> for GroupMember {
    fn from(m: GroupMemberRow) -> Self {
        GroupMember {
            userid: m.userid,
            member_type: m.member_type,
            customer_id: m.customer_id,
            name: m.name,
            join_time: m.join_time,
            join_scene: m.join_scene,
            invitor: m.invitor,
            left_at: m.left_at,
        }
    }
}

/// A group with its members (present first, then past stays).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupDetail {
    pub group: Group,
    pub members: Vec<GroupMember>,
    /// The last 30 days, day by day.
    pub metrics: Option<MetricsRow>,
}

/// Filters of the groups list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// paid, unpaid, education, vip, store or custom.
    pub kind: Option<String>,
    pub store_id: Option<i64>,
    /// The owner's WeCom userid.
    pub owner: Option<String>,
    /// active or dismissed.
    pub status: Option<String>,
    /// Size: at least this many present members.
    pub min_members: Option<i32>,
    /// Size: at most this many present members.
    pub max_members: Option<i32>,
    /// Activity: at least this share (percent, 0–100) of members spoke in
    /// the last 30 days.
    pub min_activity: Option<f64>,
    /// Activity: at most this share (percent); `0` finds silent groups.
    pub max_activity: Option<f64>,
}

/// A kind filter as a query gives it: blank is none; an unknown kind is
/// `invalid_input`.
pub(crate) fn kind_filter(kind: Option<&str>) -> Result<Option<&'static str>> {
    match kind.map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(k) => Ok(Some(
            koi_domain::group::GroupKind::parse(k)
                .ok_or_else(|| {
                    koi_domain::ValidationError::one("kind", "unknown_group_kind", format!("no group kind {k:?}"))
                })?
                .as_str(),
        )),
    }
}

/// Most groups one list returns.
pub const MAX_GROUPS: i64 = 1000;

impl Engine {
    /// Enqueues the read of a group a `change_external_chat` callback named.
    /// A member change is read a moment later (WeCom's details lag).
    pub(crate) async fn enqueue_group_read(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        job: GroupSyncJob,
        delay: bool,
    ) -> JobResult<()> {
        let now = now_ms();
        let run_at = if delay { now + READ_DELAY_MS } else { now };
        enqueue_at(tx, corp_id, &job, run_at, now).await?;
        Ok(())
    }

    /// Records a group WeCom no longer has: dismissed, every present member
    /// gone (customers' `customer.group_left`).
    async fn record_group_gone(&self, tx: &mut Tx, corp_id: i64, chat_id: &str, read_at: i64) -> Result<()> {
        let Some(g) = tx.group_of_chat(corp_id, chat_id).await? else {
            return Ok(()); // never known to koi: nothing to keep
        };
        if g.status == koi_domain::group::STATUS_DISMISSED || !tx.claim_group_dismissed(g.id, read_at).await? {
            return Ok(());
        }
        for m in tx.present_members(corp_id, g.id).await? {
            self.record_leave(tx, corp_id, &g, &m, read_at).await?;
        }
        tx.recount_group(g.id).await?;
        self.queue_code_rotations(tx, corp_id, g.id).await?;
        let e = NewEvent {
            corp_id,
            kind: "group.dismissed",
            subject: &format!("group:{}", g.id),
            actor: "wecom",
            payload: &serde_json::json!({ "chat_id": chat_id, "name": g.name }).to_string(),
            dedup_key: Some(&format!("group.dismissed:{}", g.id)),
            occurred_at: read_at,
        };
        tx.append_event(&e, read_at).await?;
        Ok(())
    }

    /// Records WeCom's state of a group read at `read_at`, unless a newer
    /// read is recorded: the group's fields, then the members who joined
    /// and left since koi's last read.
    async fn record_group_read(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        chat: &GroupChat,
        read_at: i64,
        rules: &ValueRules,
    ) -> Result<()> {
        let group_id = tx.ensure_group(corp_id, &chat.chat_id).await?;
        let owner_staff_id = tx.staff_id_by_userid(corp_id, &chat.owner).await?;
        let state = GroupState {
            name: &chat.name,
            owner_userid: &chat.owner,
            owner_staff_id,
            notice: chat.notice.as_deref().unwrap_or(""),
            member_version: chat.member_version.as_deref().unwrap_or(""),
            created_at: chat.create_time.saturating_mul(1000),
        };
        if !tx.claim_group_sync(group_id, &state, read_at).await? {
            return Ok(()); // a newer read is recorded already
        }
        let g = tx.group_of_chat(corp_id, &chat.chat_id).await?.ok_or(EngineError::NotFound("group"))?;
        let present = tx.present_members(corp_id, group_id).await?;
        let known: Vec<MemberSnapshot> =
            present.iter().map(|m| MemberSnapshot { userid: m.userid.clone(), join_time: m.join_time }).collect();
        let now: Vec<MemberSnapshot> = chat
            .member_list
            .iter()
            .map(|m| MemberSnapshot { userid: m.userid.clone(), join_time: m.join_time })
            .collect();
        let diff = diff_members(&known, &now);
        for m in present.iter().filter(|m| diff.left.contains(&m.userid)) {
            self.record_leave(tx, corp_id, &g, m, read_at).await?;
        }
        // Who joined, and who of them and of the members not linked yet koi
        // knows as customers: one lookup and one multi-row insert a read.
        let joined: Vec<_> = chat.member_list.iter().filter(|m| diff.joined.contains(&m.userid)).collect();
        let unlinked: Vec<_> = present
            .iter()
            .filter(|m| m.customer_id.is_none() && m.member_type == MEMBER_CUSTOMER && !diff.left.contains(&m.userid))
            .collect();
        let customer_keys: Vec<&str> = joined
            .iter()
            .filter(|m| member_type(m.kind) == MEMBER_CUSTOMER)
            .map(|m| m.userid.as_str())
            .chain(unlinked.iter().map(|m| m.userid.as_str()))
            .collect();
        let customers = tx.customer_ids_of(corp_id, &customer_keys).await?;
        let customer_of = |kind: &str, userid: &str| {
            if kind == MEMBER_CUSTOMER {
                customers.get(userid).copied()
            } else {
                None
            }
        };
        let rows: Vec<NewMember> = joined
            .iter()
            .map(|m| {
                let kind = member_type(m.kind);
                NewMember {
                    userid: &m.userid,
                    member_type: kind,
                    customer_id: customer_of(kind, &m.userid),
                    name: m.name.as_deref().or(m.group_nickname.as_deref()).unwrap_or(""),
                    join_time: m.join_time,
                    join_scene: m.join_scene,
                    invitor: m.invitor.as_ref().map_or("", |i| i.userid.as_str()),
                    state: m.state.as_deref().unwrap_or(""),
                }
            })
            .collect();
        let inserted = tx.insert_group_members(corp_id, group_id, &rows).await?;
        for (row, m) in rows.iter().zip(&joined) {
            if !inserted.contains(&(row.userid.to_owned(), row.join_time)) {
                continue;
            }
            if let Some(customer_id) = row.customer_id {
                self.record_join(tx, corp_id, &g, customer_id, row.join_time, rules).await?;
            }
            self.record_campaign_join(tx, corp_id, g.id, row, m.unionid.as_deref().unwrap_or("")).await?;
        }
        // Members koi came to know as customers since they joined: linked,
        // and their join is recorded now (once per stay, as always).
        for m in unlinked {
            if let Some(&customer_id) = customers.get(&m.userid) {
                tx.link_group_member(m.id, customer_id).await?;
                self.record_join(tx, corp_id, &g, customer_id, m.join_time, rules).await?;
            }
        }
        let members = tx.recount_group(group_id).await?;
        self.after_group_read(tx, corp_id, &g, members, chat).await?;
        Ok(())
    }

    /// A customer's join: the event (once per stay) and the behaviour.
    async fn record_join(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        g: &GroupRow,
        customer_id: i64,
        join_time: i64,
        rules: &ValueRules,
    ) -> Result<()> {
        let b = Behaviour::GroupJoined { group_kind: g.kind.clone() };
        let mut payload = serde_json::to_value(&b).expect("a behaviour is plain data and serialises");
        payload["group_id"] = g.id.into();
        payload["chat_id"] = g.chat_id.clone().into();
        payload["group_name"] = g.name.clone().into();
        let at = join_time.saturating_mul(1000);
        let now = now_ms();
        let e = NewEvent {
            corp_id,
            kind: "customer.group_joined",
            subject: &format!("customer:{customer_id}"),
            actor: "wecom",
            payload: &payload.to_string(),
            dedup_key: Some(&format!("group_joined:{}:{customer_id}:{join_time}", g.id)),
            occurred_at: at,
        };
        if tx.append_event(&e, now).await?.is_some() {
            self.apply_behaviour(tx, corp_id, customer_id, &b, at.min(now), rules).await?;
            let h = koi_domain::sop::Happened::JoinedGroup(&g.kind);
            crate::sop::on_happened(tx, corp_id, customer_id, &h).await?;
        }
        Ok(())
    }

    /// A join through a fission participant's group entry is an invite; one
    /// through a migration's old group's entry is a move.
    async fn record_campaign_join(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        group_id: i64,
        m: &NewMember<'_>,
        unionid: &str,
    ) -> Result<()> {
        if let Some(old_group) = koi_domain::campaign::migration::old_group_of(m.state) {
            // A member of an old WeChat group moving in through its entry.
            if m.member_type != MEMBER_CUSTOMER {
                return Ok(());
            }
            let at = m.join_time.saturating_mul(1000);
            return record_move_join(tx, corp_id, old_group, group_id, m.userid, m.customer_id, at).await;
        }
        let Attribution::Channel(s) = ChannelState::decode(m.state) else { return Ok(()) };
        let Some(entry) = EntryOf::of(&s) else { return Ok(()) };
        if m.member_type != MEMBER_CUSTOMER {
            return Ok(());
        }
        let at = m.join_time.saturating_mul(1000);
        let followed_before = match m.customer_id {
            Some(c) => tx.followed_before_time(corp_id, c, at).await?,
            None => false,
        };
        let arrival = Arrival {
            entry,
            via: Via::Join { group_id },
            invitee_key: m.userid,
            invitee_customer_id: m.customer_id,
            unionid,
            followed_before,
            occurred_at: at,
            welcome: None,
        };
        record_arrival(tx, corp_id, &arrival).await
    }

    /// A member's leave: the stay ends; a customer's is a customer event.
    async fn record_leave(&self, tx: &mut Tx, corp_id: i64, g: &GroupRow, m: &GroupMemberRow, at: i64) -> Result<()> {
        if !tx.end_group_member(m.id, at).await? {
            return Ok(());
        }
        record_invitee_left(tx, corp_id, &m.userid, Via::Join { group_id: g.id }, at).await?;
        record_move_leave(tx, corp_id, &m.userid, g.id, at).await?;
        let Some(customer_id) = m.customer_id else { return Ok(()) };
        let payload = serde_json::json!({
            "group_id": g.id, "chat_id": g.chat_id, "group_name": g.name, "group_kind": g.kind,
        });
        let e = NewEvent {
            corp_id,
            kind: "customer.group_left",
            subject: &format!("customer:{customer_id}"),
            actor: "wecom",
            payload: &payload.to_string(),
            dedup_key: Some(&format!("group_left:{}:{customer_id}:{}", g.id, m.join_time)),
            occurred_at: at,
        };
        tx.append_event(&e, now_ms()).await?;
        Ok(())
    }

    /// The corp's groups (a store manager sees their stores' groups).
    pub async fn groups(&self, who: &Principal, q: &GroupQuery) -> Result<Vec<Group>> {
        require(who, Action::ViewGroups)?;
        let kind = kind_filter(q.kind.as_deref())?;
        let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s @ ("active" | "dismissed")) => Some(s),
            Some(s) => {
                return Err(koi_domain::ValidationError::one(
                    "status",
                    "unknown_status",
                    format!("status is active or dismissed (not {s:?})"),
                )
                .into())
            }
        };
        let f = GroupFilter {
            kind,
            store_id: q.store_id,
            owner: q.owner.as_deref().map(str::trim).filter(|o| !o.is_empty()),
            status,
            stores: who.store_scope(),
            min_members: q.min_members,
            max_members: q.max_members,
        };
        if q.min_activity.is_none() && q.max_activity.is_none() {
            let rows = self.db.groups(who.corp_id, &f, MAX_GROUPS).await?;
            return Ok(rows.into_iter().map(Group::from).collect());
        }
        for (field, v) in [("min_activity", q.min_activity), ("max_activity", q.max_activity)] {
            if v.is_some_and(|v| !(0.0..=100.0).contains(&v)) {
                return Err(koi_domain::ValidationError::one(field, "out_of_range", "a percent, 0 to 100").into());
            }
        }
        // Filtered by activity before the list's limit, so an older silent
        // group is not cut off by newer lively ones.
        let groups = self.db.groups(who.corp_id, &f, i64::MAX).await?.into_iter().map(Group::from);
        let mq = MetricsQuery { kind: q.kind.clone(), store_id: q.store_id, ..Default::default() };
        let rates: std::collections::HashMap<String, f64> = self
            .group_metrics(who, &mq)
            .await?
            .rows
            .into_iter()
            .map(|r| (r.key, r.totals.activity_rate * 100.0))
            .collect();
        let (lo, hi) = (q.min_activity.unwrap_or(0.0), q.max_activity.unwrap_or(100.0));
        // A small tolerance, so 1/3 passes "at least 33.33".
        let within = |g: &Group| rates.get(&g.id.to_string()).is_some_and(|r| *r + 1e-9 >= lo && *r <= hi + 1e-9);
        Ok(groups.filter(within).take(MAX_GROUPS as usize).collect())
    }

    /// One group with its members, present and past.
    pub async fn group(&self, who: &Principal, id: i64) -> Result<GroupDetail> {
        require(who, Action::ViewGroups)?;
        let group = match self.db.group(who.corp_id, id).await? {
            Some(g) if who.store_scope().is_none() || g.store_id.is_some_and(|s| who.sees_store(s)) => g,
            _ => return Err(EngineError::NotFound("group")),
        };
        let members = self.db.group_members(who.corp_id, id, true).await?;
        let metrics = self.group_series(who, id).await?;
        Ok(GroupDetail { group: group.into(), members: members.into_iter().map(GroupMember::from).collect(), metrics })
    }

    /// Sets a group's kind and store (what WeCom does not know).
    pub async fn update_group(&self, who: &Principal, id: i64, edit: &GroupEdit) -> Result<GroupDetail> {
        require(who, Action::ManageGroups)?;
        let e = edit.validate()?;
        self.group(who, id).await?;
        if let Some(Some(store_id)) = e.store_id {
            self.store(who, store_id).await.map_err(|_| {
                koi_domain::ValidationError::one("store_id", "unknown_store", format!("no store {store_id}"))
            })?;
        }
        let mut tx = self.db.begin().await?;
        tx.set_group_kind_store(who.corp_id, id, e.kind.map(|k| k.as_str()), e.store_id).await?;
        let now = now_ms();
        let payload = serde_json::json!({
            "kind": e.kind.map(|k| k.as_str()),
            "store_id": e.store_id,
        });
        let ev = NewEvent {
            corp_id: who.corp_id,
            kind: "group.updated",
            subject: &format!("group:{id}"),
            actor: &actor(who),
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&ev, now).await?;
        tx.commit().await?;
        self.group(who, id).await
    }

    /// Queues a full sync of the corp's groups with WeCom (the
    /// `groups.sync` job). Returns the job's id.
    pub async fn sync_groups(&self, who: &Principal) -> Result<i64> {
        require(who, Action::ManageGroups)?;
        self.enqueue_now(who.corp_id, &GroupFullSyncJob { requested_by: actor(who) }).await
    }
}
