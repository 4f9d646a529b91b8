//! Group live codes (群活码): made, edited and deleted together with their
//! WeCom join ways (WeCom first: a refusal changes nothing in koi), shown
//! with their rotation status, and the nearest-store landing page that
//! shows the group code of the store closest to the customer.

use super::rotation::{code_group, code_groups_of, settings_of, way_request};
use crate::acquisition::{choose_store, StorePick};
use crate::{actor, random_hex, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::group::{rotate, way_state, CodeGroup, GroupCodeDraft, GroupCodeType, SlotState, Warning, QR_CUT};
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::group_codes::{CodeGroupRow, GroupCodeEdit, GroupCodeRow, NewGroupCode};
use koi_store::groups::GroupRow;
use koi_store::now_ms;
use koi_wecom::client::{AddJoinWayRequest, DelJoinWayRequest, GetJoinWayRequest, Priority};
use koi_wecom::ErrCode;
use serde::Serialize;

/// A group code with its rotation status, as the API and console show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupCode {
    pub id: i64,
    pub name: String,
    /// rotating or nearest_store.
    pub code_type: GroupCodeType,
    /// The kind groups WeCom opens for the code are given.
    pub group_kind: String,
    pub store_id: Option<i64>,
    /// The join way's `state`: members who joined through it carry it.
    pub state: String,
    /// WeCom's join way id and QR image URL (rotating codes).
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    /// A nearest-store code's landing page (`/h5/group/{random token}`,
    /// under koi's public URL): what its QR points at.
    pub landing_path: Option<String>,
    /// The operator's settings.
    pub settings: GroupCodeDraft,
    /// The chat ids the join way lists now (as koi last set them).
    pub listed: Vec<String>,
    /// Free places in the code's groups with room.
    pub room: u32,
    /// Set when the operator must act: low_room, last_group or full.
    pub warning: Option<Warning>,
    /// No room left and no auto-create: joins through the code are refused.
    pub full: bool,
    /// When koi last rotated the join way, ms (0: not yet).
    pub rotated_at: i64,
    pub created_at: i64,
}

/// One group of a code and where it stands in the rotation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeGroupStatus {
    pub group_id: i64,
    pub chat_id: String,
    pub name: String,
    /// Present members.
    pub members: i32,
    /// Present members who joined by QR.
    pub qr_joins: i64,
    /// Joins through this code's way (stays, past ones too).
    pub code_joins: i64,
    /// open (listed: takes the next joins), standby, full or dismissed.
    pub state: SlotState,
    /// WeCom opened it for the code (auto-create).
    pub adopted: bool,
}

/// A code with each of its groups' rotation status, in the operator's order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupCodeDetail {
    pub code: GroupCode,
    pub groups: Vec<CodeGroupStatus>,
}

/// The store a nearest-store group code's landing page picked.
pub type GroupCodeStorePick = StorePick;

/// A new code's random parts: its public token (128 bits, for the landing
/// page) and the random part of its join way's state.
fn invalid(field: &str, code: &str, message: impl Into<String>) -> EngineError {
    ValidationError::one(field, code, message).into()
}

fn view(row: &GroupCodeRow, groups: &[CodeGroupRow]) -> Result<GroupCodeDetail> {
    let settings = settings_of(row)?;
    let r = rotate(&code_groups_of(groups), settings.cap, settings.warn_below, settings.auto_create_room);
    let nearest = settings.code_type == GroupCodeType::NearestStore;
    let statuses = groups
        .iter()
        .zip(r.slots.iter())
        .map(|(g, s)| CodeGroupStatus {
            group_id: g.group_id,
            chat_id: g.chat_id.clone(),
            name: g.name.clone(),
            members: g.members,
            qr_joins: g.qr_joins,
            code_joins: g.code_joins,
            state: *s,
            adopted: g.adopted,
        })
        .collect();
    let code = GroupCode {
        id: row.id,
        name: row.name.clone(),
        code_type: settings.code_type,
        group_kind: settings.group_kind.clone().unwrap_or_else(|| "custom".into()),
        store_id: row.store_id,
        state: row.state.clone(),
        config_id: row.config_id.clone(),
        qr_code: row.qr_code.clone(),
        landing_path: nearest.then(|| format!("/h5/group/{}", row.public_token)),
        listed: serde_json::from_str(&row.listed).unwrap_or_default(),
        room: if nearest { 0 } else { r.room },
        warning: if nearest { None } else { r.warning },
        full: !nearest && r.warning == Some(Warning::Full),
        rotated_at: row.rotated_at,
        created_at: row.created_at,
        settings,
    };
    Ok(GroupCodeDetail { code, groups: statuses })
}

impl Engine {
    /// The corp's group codes with their rotation status (a store manager
    /// sees their stores' codes).
    pub async fn group_codes(&self, who: &Principal) -> Result<Vec<GroupCode>> {
        require(who, Action::ViewGroups)?;
        let mut out = Vec::new();
        for row in self.db.group_codes(who.corp_id).await? {
            if !visible(who, &row) {
                continue;
            }
            let groups = self.db.code_groups(who.corp_id, row.id, false).await?;
            out.push(view(&row, &groups)?.code);
        }
        Ok(out)
    }

    /// One code with each of its groups' rotation status.
    pub async fn group_code(&self, who: &Principal, id: i64) -> Result<GroupCodeDetail> {
        require(who, Action::ViewGroups)?;
        let row = self.code_row(who, id).await?;
        let groups = self.db.code_groups(who.corp_id, id, false).await?;
        view(&row, &groups)
    }

    pub(super) async fn code_row(&self, who: &Principal, id: i64) -> Result<GroupCodeRow> {
        match self.db.group_code(who.corp_id, id).await? {
            Some(row) if visible(who, &row) => Ok(row),
            _ => Err(EngineError::NotFound("group code")),
        }
    }

    /// Creates a code. A rotating code's join way is made in WeCom first,
    /// listing the first groups with room and carrying a fresh `state`; a
    /// refusal (502 `wecom_refused`) leaves nothing in koi.
    pub async fn create_group_code(&self, who: &Principal, draft: GroupCodeDraft) -> Result<GroupCodeDetail> {
        require(who, Action::ManageGroups)?;
        let d = draft.validate()?;
        let groups = self.check_refs(who, &d, None).await?;
        let state = if d.code_type == GroupCodeType::Rotating { way_state(&random_hex(8)) } else { String::new() };
        let (config_id, qr_code, listed) = match d.code_type {
            GroupCodeType::Rotating => {
                let (config_id, qr, listed) = self.add_way(who.corp_id, &d, &state, &groups).await?;
                (Some(config_id), Some(qr), listed)
            }
            GroupCodeType::NearestStore => (None, None, vec![]),
        };
        let settings = serde_json::to_string(&d).expect("a draft is plain data and serialises");
        let listed = serde_json::to_string(&listed).expect("a list of ids serialises");
        let token = random_hex(16);
        let new = NewGroupCode {
            corp_id: who.corp_id,
            name: &d.name,
            code_type: d.code_type.as_str(),
            store_id: d.store_id,
            public_token: &token,
            settings: &settings,
            state: &state,
            config_id: config_id.as_deref(),
            qr_code: qr_code.as_deref(),
            listed: &listed,
            now: now_ms(),
        };
        let saved = self.save_new_code(who, &new, &d.group_ids).await;
        let id = match saved {
            Ok(id) => id,
            Err(e) => {
                // The way exists in WeCom but not in koi: take it back.
                if let Some(config_id) = config_id {
                    let _ = self.del_way(who.corp_id, &config_id).await;
                }
                return Err(e);
            }
        };
        self.group_code(who, id).await
    }

    async fn save_new_code(&self, who: &Principal, new: &NewGroupCode<'_>, group_ids: &[i64]) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        let id = tx.insert_group_code(new).await?;
        tx.set_code_groups(who.corp_id, id, group_ids).await?;
        append_code_event(&mut tx, who, "group_code.created", id, new.name).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces a code's settings. A rotating code's join way is updated in
    /// WeCom first (its groups, room settings); the QR stays the same.
    pub async fn update_group_code(&self, who: &Principal, id: i64, draft: GroupCodeDraft) -> Result<GroupCodeDetail> {
        require(who, Action::ManageGroups)?;
        let row = self.code_row(who, id).await?;
        let current = settings_of(&row)?;
        let d = draft.validate()?;
        if d.code_type != current.code_type {
            return Err(invalid("code_type", "immutable", "a code stays rotating or nearest-store"));
        }
        let groups = self.check_refs(who, &d, Some(id)).await?;
        let listed = match (&row.config_id, d.code_type) {
            (Some(config_id), GroupCodeType::Rotating) => {
                let listed = first_listed(&d, &groups)?;
                let client = self.wecom_for(who.corp_id).await?;
                let req = way_request(config_id, &d, &row.state, listed.clone());
                client.update_join_way(&req, Priority::Interactive).await.map_err(EngineError::of_wecom_change)?;
                listed
            }
            _ => vec![],
        };
        let settings = serde_json::to_string(&d).expect("a draft is plain data and serialises");
        let listed = serde_json::to_string(&listed).expect("a list of ids serialises");
        let edit =
            GroupCodeEdit { name: &d.name, store_id: d.store_id, settings: &settings, listed: &listed, now: now_ms() };
        let mut tx = self.db.begin().await?;
        tx.update_group_code(who.corp_id, id, &edit).await?;
        tx.set_code_groups(who.corp_id, id, &d.group_ids).await?;
        append_code_event(&mut tx, who, "group_code.updated", id, &d.name).await?;
        tx.commit().await?;
        self.group_code(who, id).await
    }

    /// Deletes a code: its join way goes first (a printed QR stops taking
    /// joins); the groups stay. A code a nearest-store code shows cannot go.
    pub async fn delete_group_code(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageGroups)?;
        let row = self.code_row(who, id).await?;
        for other in self.db.group_codes(who.corp_id).await? {
            if settings_of(&other)?.stores.iter().any(|s| s.code_id == id) {
                let msg = format!("the nearest-store code {:?} shows this code; take it out there first", other.name);
                return Err(invalid("id", "in_use", msg));
            }
        }
        if let Some(config_id) = &row.config_id {
            self.del_way(who.corp_id, config_id).await?;
        }
        let mut tx = self.db.begin().await?;
        tx.delete_group_code(who.corp_id, id).await?;
        append_code_event(&mut tx, who, "group_code.deleted", id, &row.name).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks what the draft names exists in the corp (and the editor's
    /// stores): the groups (active, in order), the store, and a nearest-store
    /// code's stores and their rotating codes.
    async fn check_refs(&self, who: &Principal, d: &GroupCodeDraft, this: Option<i64>) -> Result<Vec<GroupRow>> {
        if let Some(s) = d.store_id {
            self.known_store(who, "store_id", s).await?;
        }
        // A group of the code that WeCom dismissed may stay listed (it is
        // skipped); a group new to the code must be active.
        let in_code = match this {
            Some(id) => self.db.code_groups(who.corp_id, id, false).await?.into_iter().map(|g| g.group_id).collect(),
            None => vec![],
        };
        let mut groups = Vec::with_capacity(d.group_ids.len());
        for gid in &d.group_ids {
            match self.db.group(who.corp_id, *gid).await? {
                Some(g) if g.status == koi_domain::group::STATUS_ACTIVE || in_code.contains(&g.id) => groups.push(g),
                _ => return Err(invalid("group_ids", "unknown_group", format!("no active group {gid}"))),
            }
        }
        for s in &d.stores {
            self.known_store(who, "stores", s.store_id).await?;
            let code = self.db.group_code(who.corp_id, s.code_id).await?;
            if !code.is_some_and(|c| c.code_type == GroupCodeType::Rotating.as_str() && Some(c.id) != this) {
                return Err(invalid("stores", "unknown_code", format!("no rotating group code {}", s.code_id)));
            }
        }
        Ok(groups)
    }

    async fn known_store(&self, who: &Principal, field: &str, id: i64) -> Result<()> {
        self.store(who, id).await.map(|_| ()).map_err(|_| invalid(field, "unknown_store", format!("no store {id}")))
    }

    /// Makes the join way: WeCom's answer is its config id, then its QR.
    async fn add_way(
        &self,
        corp_id: i64,
        d: &GroupCodeDraft,
        state: &str,
        groups: &[GroupRow],
    ) -> Result<(String, String, Vec<String>)> {
        let listed = first_listed(d, groups)?;
        let req = way_request("", d, state, listed.clone());
        let add = AddJoinWayRequest {
            scene: req.scene,
            remark: req.remark,
            auto_create_room: req.auto_create_room,
            room_base_name: req.room_base_name,
            room_base_id: req.room_base_id,
            chat_id_list: req.chat_id_list,
            state: req.state,
        };
        let client = self.wecom_for(corp_id).await?;
        let made = client.add_join_way(&add, Priority::Interactive).await.map_err(EngineError::of_wecom_change)?;
        let got =
            client.get_join_way(&GetJoinWayRequest { config_id: made.config_id.clone() }, Priority::Interactive).await;
        match got {
            Ok(w) => Ok((made.config_id, w.join_way.qr_code.unwrap_or_default(), listed)),
            Err(e) => {
                let _ = self.del_way(corp_id, &made.config_id).await;
                Err(EngineError::of_wecom_change(e))
            }
        }
    }

    async fn del_way(&self, corp_id: i64, config_id: &str) -> Result<()> {
        let client = self.wecom_for(corp_id).await?;
        let req = DelJoinWayRequest { config_id: config_id.to_string() };
        match client.del_join_way(&req, Priority::Interactive).await {
            // Already gone in WeCom (41044): gone is what was asked for.
            Err(e) if !e.is(ErrCode::INVALID_CONFIG_ID) => Err(EngineError::of_wecom_change(e)),
            _ => Ok(()),
        }
    }

    /// Whether a nearest-store group code has this public token. Public.
    pub async fn group_landing_exists(&self, token: &str) -> Result<()> {
        self.group_landing(token).await.map(|_| ())
    }

    async fn group_landing(&self, token: &str) -> Result<(GroupCodeRow, GroupCodeDraft)> {
        let row = self.db.group_code_by_token(token).await?.ok_or(EngineError::NotFound("group code"))?;
        let settings = settings_of(&row)?;
        match settings.code_type {
            GroupCodeType::NearestStore => Ok((row, settings)),
            GroupCodeType::Rotating => Err(EngineError::NotFound("nearest-store group code")),
        }
    }

    /// The landing page of a nearest-store group code: the customer's
    /// location picks the nearest of the code's stores within the radius
    /// (else the fallback store), whose group code's QR is shown. Public:
    /// reached by the code's random public token only.
    pub async fn locate_group_store(&self, token: &str, location: Option<(f64, f64)>) -> Result<GroupCodeStorePick> {
        let (row, settings) = self.group_landing(token).await?;
        let stores = self.db.stores(row.corp_id).await?;
        let mapped: Vec<_> = stores.iter().filter(|s| settings.stores.iter().any(|m| m.store_id == s.id)).collect();
        let candidates: Vec<(i64, f64, f64)> = mapped.iter().filter_map(|s| Some((s.id, s.lat?, s.lng?))).collect();
        let fallback = settings.fallback_store_id.ok_or(EngineError::NotFound("fallback store"))?;
        let (store_id, distance_m, fell_back) = choose_store(&candidates, location, settings.radius_m, fallback);
        let store = stores.iter().find(|s| s.id == store_id).ok_or(EngineError::NotFound("store"))?;
        let code_id = settings.stores.iter().find(|m| m.store_id == store_id).map(|m| m.code_id);
        let code = match code_id {
            Some(id) => self.db.group_code(row.corp_id, id).await?,
            None => None,
        };
        let qr_code = code
            .and_then(|c| c.qr_code.filter(|q| !q.is_empty()))
            .ok_or(EngineError::NotFound("a group code for that store"))?;
        Ok(StorePick {
            store_id,
            store_name: store.name.clone(),
            address: store.address.clone(),
            distance_m,
            fallback: fell_back,
            qr_code,
        })
    }
}

/// A store manager sees the codes of their stores; HQ sees all.
fn visible(who: &Principal, row: &GroupCodeRow) -> bool {
    who.store_scope().is_none() || row.store_id.is_some_and(|s| who.sees_store(s))
}

/// The chat ids a new or edited way lists: the rotation over the groups as
/// koi holds them now.
fn first_listed(d: &GroupCodeDraft, groups: &[GroupRow]) -> Result<Vec<String>> {
    let cg: Vec<CodeGroup> = groups.iter().map(|g| code_group(&g.chat_id, g.members, &g.status)).collect();
    let r = rotate(&cg, d.cap.min(QR_CUT), d.warn_below, d.auto_create_room);
    if r.listed.is_empty() {
        return Err(invalid("group_ids", "required", "choose at least one active group"));
    }
    Ok(r.listed)
}

async fn append_code_event(tx: &mut koi_store::Tx, who: &Principal, kind: &str, id: i64, name: &str) -> Result<()> {
    let now = now_ms();
    let e = NewEvent {
        corp_id: who.corp_id,
        kind,
        subject: &format!("group_code:{id}"),
        actor: &actor(who),
        payload: &serde_json::json!({ "name": name }).to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}
