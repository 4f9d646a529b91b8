//! Rotation of group live codes, as jobs. A group sync that sees a code's
//! group change size (or vanish) queues the code's [`GroupCodeRotateJob`]
//! in its own transaction, one queued per code at a time. The job reads the
//! join way (WeCom's list, with any room WeCom opened), decides the list with
//! [`koi_domain::group::rotate`] and writes it back with `update_join_way`
//! when it differs. Rooms WeCom opened for the code are adopted into it
//! (recognised in the way's list, or by the code's `state` on their members
//! in `groupchat/get`) and take the code's kind and store. A warning that
//! gets more urgent goes on the event log once.

use super::GroupSyncJob;
use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::{Engine, EngineError, Result};
use koi_domain::group::{
    rotate, warning_crossed, CodeGroup, GroupCodeDraft, GroupCodeType, Rotation, Warning, STATE_PREFIX,
};
use koi_domain::jobs::priority;
use koi_store::events::NewEvent;
use koi_store::group_codes::{CodeGroupRow, GroupCodeRow};
use koi_store::groups::GroupRow;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{GetJoinWayRequest, GroupChat, Priority, UpdateJoinWayRequest};
use koi_wecom::ErrCode;
use serde::{Deserialize, Serialize};

/// Job: keep a code's join way on its next groups with room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GroupCodeRotateJob {
    pub code_id: i64,
}

/// What a rotation found and did in WeCom, to record.
pub(crate) struct Rotated {
    row: GroupCodeRow,
    settings: GroupCodeDraft,
    rotation: Rotation,
    /// Chat ids the way listed that the code did not have: rooms WeCom opened.
    new_rooms: Vec<String>,
    /// What the way lists now.
    listed: Vec<String>,
}

/// The operator's settings of a code, as saved.
pub(crate) fn settings_of(row: &GroupCodeRow) -> Result<GroupCodeDraft> {
    serde_json::from_str(&row.settings)
        .map_err(|e| EngineError::Unavailable(format!("stored group code {}: {e}", row.id)))
}

/// A code's groups as the rotation sees them.
pub(crate) fn code_groups_of(rows: &[CodeGroupRow]) -> Vec<CodeGroup> {
    rows.iter().map(|g| code_group(&g.chat_id, g.members, &g.status)).collect()
}

/// A group as the rotation rule sees it.
pub(crate) fn code_group(chat_id: &str, members: i32, status: &str) -> CodeGroup {
    CodeGroup {
        chat_id: chat_id.to_string(),
        members: u32::try_from(members).unwrap_or(0),
        active: status == koi_domain::group::STATUS_ACTIVE,
    }
}

/// The whole configuration of a code's join way (WeCom's update overwrites
/// it all), listing `listed`.
pub(crate) fn way_request(
    config_id: &str,
    d: &GroupCodeDraft,
    state: &str,
    listed: Vec<String>,
) -> UpdateJoinWayRequest {
    let remark: String = d.name.chars().take(30).collect();
    UpdateJoinWayRequest {
        config_id: config_id.to_string(),
        scene: 2,
        remark: Some(remark),
        auto_create_room: Some(i32::from(d.auto_create_room)),
        room_base_name: d.auto_create_room.then(|| d.room_base_name.clone()),
        room_base_id: if d.auto_create_room { d.room_base_id } else { None },
        chat_id_list: listed,
        state: Some(state.to_string()),
    }
}

impl Job for GroupCodeRotateJob {
    const KIND: &'static str = "groups.rotate_code";
    const PRIORITY: i32 = priority::ROUTE;
    type Prepared = Option<Rotated>;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Option<Rotated>> {
        // From here on a change queues another rotation: none is lost.
        engine.db.clear_rotation_queued(self.code_id).await?;
        let Some(row) = engine.db.group_code(ctx.corp_id, self.code_id).await? else { return Ok(None) };
        let Some(config_id) = row.config_id.clone() else { return Ok(None) };
        let settings = settings_of(&row)?;
        let groups = engine.db.code_groups(ctx.corp_id, row.id, false).await?;
        let removed = engine.db.code_groups(ctx.corp_id, row.id, true).await?;
        let client = engine.wecom_for(ctx.corp_id).await?;
        let way = match client.get_join_way(&GetJoinWayRequest { config_id: config_id.clone() }, Priority::Bulk).await {
            Ok(w) => w.join_way,
            Err(e) if e.is(ErrCode::INVALID_CONFIG_ID) => return Err(JobError::Done("the join way is gone".into())),
            Err(e) => return Err(e.into()),
        };
        let known = |chat: &String| groups.iter().chain(removed.iter()).any(|g| &g.chat_id == chat);
        let new_rooms: Vec<String> = way.chat_id_list.iter().filter(|c| !known(c)).cloned().collect();
        let mut cg = code_groups_of(&groups);
        for chat in &new_rooms {
            let members = engine.db.group_by_chat_id(ctx.corp_id, chat).await?.map_or(1, |g| g.members);
            cg.push(CodeGroup { chat_id: chat.clone(), members: u32::try_from(members).unwrap_or(1), active: true });
        }
        let rotation = rotate(&cg, settings.cap, settings.warn_below, settings.auto_create_room);
        let listed = if !rotation.listed.is_empty() && rotation.listed != way.chat_id_list {
            let req = way_request(&config_id, &settings, &row.state, rotation.listed.clone());
            client.update_join_way(&req, Priority::Interactive).await?;
            tracing::info!(code = row.id, listed = ?rotation.listed, "group code rotated");
            rotation.listed.clone()
        } else {
            way.chat_id_list
        };
        Ok(Some(Rotated { row, settings, rotation, new_rooms, listed }))
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, r: Option<Rotated>, tx: &mut Tx) -> JobResult<JobEnd> {
        let Some(r) = r else { return Ok(JobEnd::Done) };
        for chat in &r.new_rooms {
            let group_id = tx.ensure_group(ctx.corp_id, chat).await?;
            engine.adopt(tx, ctx.corp_id, &r.row, &r.settings, group_id).await?;
            enqueue(tx, ctx.corp_id, &GroupSyncJob { chat_id: chat.clone(), ..Default::default() }).await?;
        }
        let listed = serde_json::to_string(&r.listed).expect("a list of ids serialises");
        let warning = r.rotation.warning.map_or("", Warning::as_str);
        let now = now_ms();
        if !tx.record_rotation(r.row.id, r.row.way_version, &listed, warning, now).await? {
            return Err(JobError::Retry("the code changed while it rotated; rotating again".into()));
        }
        if warning_crossed(Warning::parse(&r.row.warning), r.rotation.warning) {
            // `from`: the level before (empty: no warning), so a reader sees
            // each event is a crossing into a more urgent level.
            let payload = serde_json::json!({
                "warning": warning, "from": r.row.warning, "room": r.rotation.room, "name": r.row.name,
            });
            let e = NewEvent {
                corp_id: ctx.corp_id,
                kind: "group_code.warning",
                subject: &format!("group_code:{}", r.row.id),
                actor: "koi",
                payload: &payload.to_string(),
                dedup_key: None,
                occurred_at: now,
            };
            tx.append_event(&e, now).await?;
            tracing::warn!(code = r.row.id, warning, room = r.rotation.room, "group code warning");
        }
        Ok(JobEnd::Done)
    }
}

impl Engine {
    /// Queues a rotation of every code the group is in (one queued per code).
    pub(crate) async fn queue_code_rotations(&self, tx: &mut Tx, corp_id: i64, group_id: i64) -> Result<()> {
        for code_id in tx.codes_of_group(group_id).await? {
            self.queue_rotation(tx, corp_id, code_id).await?;
        }
        Ok(())
    }

    async fn queue_rotation(&self, tx: &mut Tx, corp_id: i64, code_id: i64) -> Result<()> {
        if tx.queue_rotation(code_id).await? {
            enqueue(tx, corp_id, &GroupCodeRotateJob { code_id }).await?;
        }
        Ok(())
    }

    /// After a group was read: a group WeCom opened for a code (its members
    /// carry the code's state) is adopted; a code whose group changed size
    /// rotates.
    pub(crate) async fn after_group_read(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        before: &GroupRow,
        members: i32,
        chat: &GroupChat,
    ) -> Result<()> {
        let mut adopted = false;
        if tx.codes_of_group(before.id).await?.is_empty() {
            if let Some(code) = code_of_states(tx, corp_id, chat).await? {
                let settings = settings_of(&code)?;
                adopted = self.adopt(tx, corp_id, &code, &settings, before.id).await?;
            }
        }
        if adopted || members != before.members {
            self.queue_code_rotations(tx, corp_id, before.id).await?;
        }
        Ok(())
    }

    /// Takes a group WeCom opened for a code into it (at the end of its
    /// order) with the code's kind and store; `false` when the group has a
    /// row in the code already (or the operator took it out).
    async fn adopt(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        code: &GroupCodeRow,
        settings: &GroupCodeDraft,
        group_id: i64,
    ) -> Result<bool> {
        if settings.code_type != GroupCodeType::Rotating || !tx.adopt_group(corp_id, code.id, group_id).await? {
            return Ok(false);
        }
        let store = code.store_id.map(Some);
        tx.set_group_kind_store(corp_id, group_id, settings.group_kind.as_deref(), store).await?;
        let now = now_ms();
        let e = NewEvent {
            corp_id,
            kind: "group_code.room_adopted",
            subject: &format!("group_code:{}", code.id),
            actor: "wecom",
            payload: &serde_json::json!({ "group_id": group_id }).to_string(),
            dedup_key: Some(&format!("group_code.room_adopted:{}:{group_id}", code.id)),
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        Ok(true)
    }

    /// The timer's check of every code with a join way: its listed groups
    /// are read again and it rotates, so a callback WeCom never delivered
    /// holds a rotation up for a minute at most.
    pub async fn check_group_codes(&self) {
        let codes = match self.db.codes_with_ways().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "group code timer: cannot list codes"),
        };
        for (corp_id, code_id) in codes {
            if let Err(e) = self.check_group_code(corp_id, code_id).await {
                tracing::warn!(code = code_id, error = %e, "group code timer: check failed");
            }
        }
    }

    async fn check_group_code(&self, corp_id: i64, code_id: i64) -> Result<()> {
        let Some(row) = self.db.group_code(corp_id, code_id).await? else { return Ok(()) };
        let listed: Vec<String> = serde_json::from_str(&row.listed).unwrap_or_default();
        let mut tx = self.db.begin().await?;
        // Seen now: a read recorded since (another node's check, a callback's)
        // spares this one its WeCom call.
        let seen_at = Some(now_ms());
        for chat_id in listed {
            enqueue(&mut tx, corp_id, &GroupSyncJob { chat_id, seen_at, ..Default::default() }).await?;
        }
        self.queue_rotation(&mut tx, corp_id, code_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The corp's code whose state a member of the group joined with.
async fn code_of_states(tx: &mut Tx, corp_id: i64, chat: &GroupChat) -> Result<Option<GroupCodeRow>> {
    let mut states: Vec<&str> =
        chat.member_list.iter().filter_map(|m| m.state.as_deref()).filter(|s| s.starts_with(STATE_PREFIX)).collect();
    states.sort_unstable();
    states.dedup();
    for s in states {
        if let Some(code) = tx.group_code_by_state(corp_id, s).await? {
            return Ok(Some(code));
        }
    }
    Ok(None)
}
