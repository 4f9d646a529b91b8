//! Use cases of the org model: corps, stores and staff, one at a time or
//! imported from a spreadsheet.

use crate::jobs::{Job, JobCtx, JobError, JobResult};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::import::{self, ImportReport, RowError};
use koi_domain::org::{
    plan_staff_sync, Corp, CorpDraft, DirectoryMember, Staff, StaffDraft, StaffSync, Store, StoreDraft,
};
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{DepartmentListRequest, Priority, UserSimpleListRequest};
use serde::{Deserialize, Serialize};

/// Upper bounds that keep an upload from tying up the single writer.
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_IMPORT_ROWS: usize = 10_000;

async fn record(tx: &mut Tx, who: &Principal, kind: &str, subject: String, payload: serde_json::Value) -> Result<()> {
    let now = now_ms();
    let e = NewEvent {
        corp_id: who.corp_id,
        kind,
        subject: &subject,
        actor: &actor(who),
        payload: &payload.to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}

/// Reads a CSV upload into a header and rows. Spreadsheets saved by Excel
/// on Chinese Windows are GB18030, not UTF-8; both are accepted.
pub fn read_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let bad = |code: &str, message: String| {
        EngineError::ImportRejected(vec![RowError { line: 1, field: "file".into(), code: code.into(), message }])
    };
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(bad("file_too_large", format!("the file is over {} MiB", MAX_IMPORT_BYTES / 1024 / 1024)));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => {
            let (t, _, had_errors) = encoding_rs::GB18030.decode(bytes);
            if had_errors {
                return Err(bad("bad_encoding", "the file is neither UTF-8 nor GB18030 text".into()));
            }
            t.into_owned()
        }
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad("bad_csv", format!("cannot read the header: {e}")))?
        .iter()
        .map(String::from)
        .collect::<Vec<_>>();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(bad("empty_file", "the file has no header row".into()));
    }
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| bad("bad_csv", format!("line {}: {e}", i + 2)))?;
        if rec.iter().all(|c| c.is_empty()) {
            continue;
        }
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(bad("too_many_rows", format!("at most {MAX_IMPORT_ROWS} rows per import")));
        }
        rows.push(rec.iter().map(String::from).collect());
    }
    Ok((headers, rows))
}

impl Engine {
    /// Creates a corp with its WeCom credentials (CLI `koi corp add`, demo).
    pub async fn add_corp(&self, draft: CorpDraft) -> Result<i64> {
        let d = draft.validate()?;
        Ok(self.db.create_corp(&d, now_ms()).await?)
    }

    /// The corp with its WeCom credentials: for those who may see settings.
    pub async fn corp(&self, who: &Principal) -> Result<Corp> {
        require(who, Action::ViewCorpSettings)?;
        self.db.corp(who.corp_id).await?.ok_or(EngineError::NotFound("corp"))
    }

    /// The brand's name, which everyone signed in may see.
    pub async fn corp_name(&self, who: &Principal) -> Result<String> {
        Ok(self.db.corp(who.corp_id).await?.ok_or(EngineError::NotFound("corp"))?.name)
    }

    /// Updates the corp's name and credentials. A secret left empty keeps the
    /// stored one, so the settings form never has to show secrets back.
    pub async fn update_corp(&self, who: &Principal, mut draft: CorpDraft) -> Result<()> {
        require(who, Action::EditCorpSettings)?;
        let current = self.db.corp(who.corp_id).await?.ok_or(EngineError::NotFound("corp"))?;
        for (new, old) in [
            (&mut draft.app_secret, &current.app_secret),
            (&mut draft.callback_token, &current.callback_token),
            (&mut draft.encoding_aes_key, &current.encoding_aes_key),
        ] {
            if new.trim().is_empty() {
                new.clone_from(old);
            }
        }
        let d = draft.validate()?;
        let mut tx = self.db.begin().await?;
        tx.update_corp(who.corp_id, &self.db.seal_corp(&d)).await?;
        record(&mut tx, who, "corp.updated", format!("corp:{}", who.corp_id), serde_json::json!({ "name": d.name }))
            .await?;
        tx.commit().await?;
        // After the commit, so nothing re-caches the old credentials.
        self.callback_keys.forget(&current.wecom_corp_id);
        self.corp_clients.forget(&who.corp_id);
        Ok(())
    }

    pub async fn stores(&self, who: &Principal) -> Result<Vec<Store>> {
        require(who, Action::ViewStores)?;
        let all = self.db.stores(who.corp_id).await?;
        Ok(all.into_iter().filter(|s| who.sees_store(s.id)).collect())
    }

    pub async fn store(&self, who: &Principal, id: i64) -> Result<Store> {
        require(who, Action::ViewStores)?;
        match self.db.store(who.corp_id, id).await? {
            Some(s) if who.sees_store(s.id) => Ok(s),
            _ => Err(EngineError::NotFound("store")),
        }
    }

    pub async fn create_store(&self, who: &Principal, draft: StoreDraft) -> Result<Store> {
        require(who, Action::CreateStores)?;
        let d = draft.validate()?;
        let mut tx = self.db.begin().await?;
        let id = tx.insert_store(who.corp_id, &d, now_ms()).await?;
        record(
            &mut tx,
            who,
            "store.created",
            format!("store:{id}"),
            serde_json::json!({ "code": d.code, "name": d.name }),
        )
        .await?;
        tx.commit().await?;
        self.store(who, id).await
    }

    pub async fn update_store(&self, who: &Principal, id: i64, draft: StoreDraft) -> Result<Store> {
        require(who, Action::EditStore)?;
        self.store(who, id).await?;
        let d = draft.validate()?;
        let mut tx = self.db.begin().await?;
        tx.update_store(who.corp_id, id, &d, now_ms()).await?;
        record(
            &mut tx,
            who,
            "store.updated",
            format!("store:{id}"),
            serde_json::json!({ "code": d.code, "name": d.name }),
        )
        .await?;
        tx.commit().await?;
        self.store(who, id).await
    }

    /// Imports stores from CSV: new codes are created, known codes updated,
    /// all in one transaction. One bad row and nothing changes.
    pub async fn import_stores(&self, who: &Principal, csv: &[u8]) -> Result<ImportReport> {
        require(who, Action::CreateStores)?;
        let (headers, rows) = read_csv(csv)?;
        let drafts = import::store_rows(&headers, &rows).map_err(EngineError::ImportRejected)?;
        let mut report = ImportReport { rows: drafts.len(), ..Default::default() };
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for d in &drafts {
            match tx.store_id_by_code(who.corp_id, &d.code).await? {
                Some(id) => {
                    tx.update_store(who.corp_id, id, d, now).await?;
                    report.updated += 1;
                }
                None => {
                    tx.insert_store(who.corp_id, d, now).await?;
                    report.created += 1;
                }
            }
        }
        let summary = serde_json::json!({ "kind": "stores", "created": report.created, "updated": report.updated });
        record(&mut tx, who, "import.completed", format!("corp:{}", who.corp_id), summary).await?;
        tx.commit().await?;
        Ok(report)
    }

    pub async fn staff_list(&self, who: &Principal) -> Result<Vec<Staff>> {
        require(who, Action::ViewStaff)?;
        let all = self.db.staff_list(who.corp_id).await?;
        Ok(all.into_iter().filter(|s| who.sees_staff(&s.store_ids)).collect())
    }

    pub async fn staff(&self, who: &Principal, id: i64) -> Result<Staff> {
        require(who, Action::ViewStaff)?;
        match self.db.staff(who.corp_id, id).await? {
            Some(s) if who.sees_staff(&s.store_ids) => Ok(s),
            _ => Err(EngineError::NotFound("staff")),
        }
    }

    /// Store ids must name stores of the corp that this principal may touch.
    async fn check_store_ids(&self, who: &Principal, ids: &[i64]) -> Result<()> {
        let known = self.db.store_codes(who.corp_id).await?;
        for id in ids {
            if !known.values().any(|k| k == id) || !who.sees_store(*id) {
                return Err(ValidationError::one(
                    "store_ids",
                    "unknown_store",
                    format!("no store {id} you can assign"),
                )
                .into());
            }
        }
        Ok(())
    }

    pub async fn create_staff(&self, who: &Principal, draft: StaffDraft) -> Result<Staff> {
        require(who, Action::EditStaff)?;
        let d = draft.validate()?;
        if who.role == koi_domain::access::Role::StoreManager && d.store_ids.is_empty() {
            return Err(ValidationError::one("store_ids", "required", "assign the member to one of your stores").into());
        }
        self.check_store_ids(who, &d.store_ids).await?;
        let mut tx = self.db.begin().await?;
        let id = tx.insert_staff(who.corp_id, &d, now_ms()).await?;
        record(&mut tx, who, "staff.created", format!("staff:{id}"), serde_json::json!({ "userid": d.userid })).await?;
        tx.commit().await?;
        self.staff(who, id).await
    }

    /// Store managers keep the member's bindings to stores they do not manage.
    pub async fn update_staff(&self, who: &Principal, id: i64, draft: StaffDraft) -> Result<Staff> {
        require(who, Action::EditStaff)?;
        let current = self.staff(who, id).await?;
        let mut d = draft.validate()?;
        self.check_store_ids(who, &d.store_ids).await?;
        d.store_ids.extend(current.store_ids.iter().filter(|s| !who.sees_store(**s)));
        d.store_ids.sort_unstable();
        d.store_ids.dedup();
        let mut tx = self.db.begin().await?;
        tx.update_staff(who.corp_id, id, &d, now_ms()).await?;
        record(
            &mut tx,
            who,
            "staff.updated",
            format!("staff:{id}"),
            serde_json::json!({ "userid": d.userid, "active": d.active }),
        )
        .await?;
        tx.commit().await?;
        self.staff(who, id).await
    }

    /// Imports staff from CSV, matched on WeCom userid, all or nothing.
    pub async fn import_staff(&self, who: &Principal, csv: &[u8]) -> Result<ImportReport> {
        require(who, Action::ImportStaff)?;
        let (headers, rows) = read_csv(csv)?;
        let codes = self.db.store_codes(who.corp_id).await?;
        let drafts = import::staff_rows(&headers, &rows, &codes).map_err(EngineError::ImportRejected)?;
        let mut report = ImportReport { rows: drafts.len(), ..Default::default() };
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for d in &drafts {
            match tx.staff_id_by_userid(who.corp_id, &d.userid).await? {
                Some(id) => {
                    tx.update_staff(who.corp_id, id, d, now).await?;
                    report.updated += 1;
                }
                None => {
                    tx.insert_staff(who.corp_id, d, now).await?;
                    report.created += 1;
                }
            }
        }
        let summary = serde_json::json!({ "kind": "staff", "created": report.created, "updated": report.updated });
        record(&mut tx, who, "import.completed", format!("corp:{}", who.corp_id), summary).await?;
        tx.commit().await?;
        Ok(report)
    }
}

/// Job: bring staff in step with WeCom's address book. Members new to koi
/// are added (active, bound to no store yet), names follow WeCom's, and
/// active members WeCom no longer lists are marked inactive; their follows,
/// customers and codes stay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StaffSyncJob {
    /// Who asked (the event names them).
    pub requested_by: String,
}

/// What the address book said, and koi's staff then.
pub(crate) struct Directory {
    plan: StaffSync,
    staff: Vec<Staff>,
}

impl Job for StaffSyncJob {
    const KIND: &'static str = "staff.sync";
    type Prepared = Directory;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Directory> {
        let client = engine.wecom_for(ctx.corp_id).await?;
        let departments = client.department_list(&DepartmentListRequest::default(), Priority::Bulk).await?;
        let mut members = Vec::new();
        for d in &departments.department {
            let req = UserSimpleListRequest { department_id: d.id };
            let list = client.user_simplelist(&req, Priority::Bulk).await?;
            members.extend(list.userlist.into_iter().map(|u| DirectoryMember { userid: u.userid, name: u.name }));
        }
        if members.is_empty() {
            // An app that may not read the address book sees nobody: that is
            // no reason to mark every guide inactive.
            return Err(JobError::GiveUp(
                "WeCom's address book lists no members: check the app's visible range".into(),
            ));
        }
        let staff = engine.db.staff_list(ctx.corp_id).await?;
        Ok(Directory { plan: plan_staff_sync(&staff, &members), staff })
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, d: Directory, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        let (mut added, mut skipped) = (0, 0);
        for m in &d.plan.added {
            let draft = StaffDraft {
                userid: m.userid.clone(),
                name: m.name.clone(),
                mobile: String::new(),
                active: true,
                store_ids: vec![],
            };
            match draft.validate() {
                Ok(draft) if tx.staff_id_by_userid(ctx.corp_id, &draft.userid).await?.is_none() => {
                    tx.insert_staff(ctx.corp_id, &draft, now).await?;
                    added += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(userid = %m.userid, error = %e, "staff sync: a WeCom member koi cannot keep");
                    skipped += 1;
                }
            }
        }
        let changed = d.plan.renamed.iter().map(|(id, name)| (*id, Some(name.as_str()), None));
        let gone = d.plan.deactivated.iter().map(|id| (*id, None, Some(false)));
        for (id, name, active) in changed.chain(gone) {
            let Some(s) = d.staff.iter().find(|s| s.id == id) else { continue };
            let draft = StaffDraft {
                userid: s.userid.clone(),
                name: name.map_or_else(|| s.name.clone(), str::to_string),
                mobile: s.mobile.clone(),
                active: active.unwrap_or(s.active),
                store_ids: s.store_ids.clone(),
            };
            tx.update_staff(ctx.corp_id, id, &draft, now).await?;
        }
        let summary = serde_json::json!({
            "added": added,
            "renamed": d.plan.renamed.len(),
            "deactivated": d.plan.deactivated.len(),
            "skipped": skipped,
        });
        let e = NewEvent {
            corp_id: ctx.corp_id,
            kind: "staff.synced",
            subject: &format!("corp:{}", ctx.corp_id),
            actor: &self.requested_by,
            payload: &summary.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        tracing::info!(corp = ctx.corp_id, %summary, "staff synced with WeCom");
        Ok(JobEnd::Done)
    }
}

impl Engine {
    /// Queues a sync of the corp's staff with WeCom's address book (see
    /// [`StaffSyncJob`]). Returns the job's id.
    pub async fn sync_staff_from_wecom(&self, who: &Principal) -> Result<i64> {
        require(who, Action::ImportStaff)?;
        self.enqueue_now(who.corp_id, &StaffSyncJob { requested_by: actor(who) }).await
    }
}

#[cfg(test)]
mod tests {
    use super::read_csv;

    #[test]
    fn gb18030_spreadsheets_are_read() {
        let (bytes, _, _) = encoding_rs::GB18030.encode("门店编码,门店名称\nSH1,静安店\n");
        let (h, rows) = read_csv(&bytes).expect("gb18030 csv");
        assert_eq!(h, ["门店编码", "门店名称"]);
        assert_eq!(rows[0][1], "静安店");
    }

    #[test]
    fn blank_lines_are_skipped_and_a_bom_is_tolerated() {
        let (h, rows) = read_csv("\u{feff}code,name\n\nA,one\n,\n".as_bytes()).expect("csv");
        assert_eq!(h.len(), 2);
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn an_empty_file_is_rejected() {
        assert!(read_csv(b"").is_err());
    }
}
