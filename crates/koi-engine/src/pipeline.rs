//! The callback pipeline: what happens to an inbox row once a worker claims
//! it. Each row's effects commit in one transaction with the row's
//! completion, so a crash or a lost lease never applies a callback twice.
//!
//! Every callback is recorded on the corp's event log. An add becomes an
//! [`AddJob`] (it must fetch the customer from WeCom, which is not done
//! inside a transaction); a deletion marks the follow lost right here; a
//! group change becomes a [`GroupSyncJob`] that re-reads the group.

use crate::acquisition::AddJob;
use crate::customers::TagSyncJob;
use crate::groups::GroupSyncJob;
use crate::jobs::{enqueue, JobError, JobResult};
use crate::Engine;
use koi_store::events::NewEvent;
use koi_store::inbox::InboxRow;
use koi_store::{now_ms, Tx};
use koi_wecom::event::{DeleteSource, ExternalChatChange, ExternalContactChange, UpdateDetail};
use koi_wecom::CallbackEvent;

impl Engine {
    /// Runs one inbox row's effects in `tx`. A row that cannot be read
    /// never will be: it is given up at once (left `failed` for a person).
    pub(crate) async fn process_callback(&self, row: &InboxRow, tx: &mut Tx) -> JobResult<()> {
        let event =
            CallbackEvent::parse(&row.plaintext).map_err(|e| JobError::GiveUp(format!("unreadable callback: {e}")))?;
        let envelope = event.envelope();
        let payload = serde_json::json!({
            "event": envelope.event,
            "change_type": envelope.change_type,
            "xml": row.plaintext,
        })
        .to_string();
        let e = NewEvent {
            corp_id: row.corp_id,
            kind: "wecom.callback",
            subject: &format!("inbox:{}", row.id),
            actor: "wecom",
            payload: &payload,
            // A replayed row records its fact once.
            dedup_key: Some(&format!("inbox:{}", row.id)),
            occurred_at: envelope.create_time.saturating_mul(1000),
        };
        tx.append_event(&e, now_ms()).await?;
        let occurred_at = envelope.create_time.saturating_mul(1000);
        if let CallbackEvent::ExternalContact { change, .. } = &event {
            match change {
                ExternalContactChange::Added { user_id, external_user_id, state, welcome_code }
                | ExternalContactChange::AddedHalf { user_id, external_user_id, state, welcome_code } => {
                    let job = AddJob {
                        userid: user_id.clone(),
                        external_userid: external_user_id.clone(),
                        state: state.clone().unwrap_or_default(),
                        welcome_code: welcome_code.clone().filter(|c| !c.is_empty()),
                        received_at: row.received_at,
                        occurred_at,
                    };
                    enqueue(tx, row.corp_id, &job).await?;
                }
                ExternalContactChange::MemberDeletedCustomer { user_id, external_user_id, source } => {
                    let by = match source {
                        Some(DeleteSource::ByTransfer) => "transfer",
                        _ => "staff",
                    };
                    self.record_deletion(row.corp_id, user_id, external_user_id, by, occurred_at, tx).await?;
                }
                ExternalContactChange::CustomerDeletedMember { user_id, external_user_id } => {
                    self.record_deletion(row.corp_id, user_id, external_user_id, "customer", occurred_at, tx).await?;
                }
                // A guide edited the customer in WeCom (remark, tags…).
                ExternalContactChange::Edited { external_user_id, .. } => {
                    self.enqueue_tag_pull(tx, row.corp_id, external_user_id, occurred_at).await?;
                }
                // A handover the customer refused, or the receiver is full:
                // the handover's item takes it (its poll would too, later).
                ExternalContactChange::TransferFailed {
                    user_id: Some(user_id),
                    external_user_id: Some(external_user_id),
                    reason,
                } => {
                    let reason = match reason {
                        koi_wecom::event::TransferFailReason::CustomerLimitExceed => "customer_limit_exceed",
                        _ => "customer_refused",
                    };
                    crate::handover::record_transfer_fail(tx, row.corp_id, user_id, external_user_id, reason).await?;
                }
                _ => {}
            }
        }
        if let CallbackEvent::ExternalChat { chat_id, change, .. } = &event {
            // A trigger only: the job reads the group again, so a lost or
            // reordered callback still ends at WeCom's state.
            let chat_id = chat_id.clone();
            let (job, delay) = match change {
                ExternalChatChange::Dismiss => {
                    (GroupSyncJob { chat_id, dismissed: true, member_version: None, seen_at: None }, false)
                }
                ExternalChatChange::Update { detail, cur_mem_ver, .. } => {
                    let members = matches!(detail, UpdateDetail::AddMember | UpdateDetail::DelMember);
                    let member_version = cur_mem_ver.clone().filter(|v| members && !v.is_empty());
                    let seen_at = Some(row.received_at);
                    (GroupSyncJob { chat_id, dismissed: false, member_version, seen_at }, true)
                }
                ExternalChatChange::Create => (GroupSyncJob { chat_id, ..Default::default() }, true),
            };
            self.enqueue_group_read(tx, row.corp_id, job, delay).await?;
        }
        if let CallbackEvent::ExternalTag { .. } = &event {
            // An admin changed the corp's tags in WeCom: re-read the list.
            enqueue(tx, row.corp_id, &TagSyncJob {}).await?;
        }
        Ok(())
    }
}
