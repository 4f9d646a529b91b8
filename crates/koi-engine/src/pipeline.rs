//! The callback pipeline: what happens to an inbox row once a worker claims
//! it. Each row's effects commit in one transaction with the row's
//! completion, so a crash or a lost lease never applies a callback twice.
//!
//! Today the pipeline records the callback on the corp's event log (the
//! customer timeline reads it); the acquisition work (fetching the customer,
//! follows, attribution, welcome messages) plugs in here.

use crate::Engine;
use koi_store::events::NewEvent;
use koi_store::inbox::InboxRow;
use koi_store::{now_ms, Tx};
use koi_wecom::CallbackEvent;

impl Engine {
    pub(crate) async fn process_callback(&self, row: &InboxRow, tx: &mut Tx) -> Result<(), String> {
        let event = CallbackEvent::parse(&row.plaintext).map_err(|e| format!("unreadable callback: {e}"))?;
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
        tx.append_event(&e, now_ms()).await.map_err(|e| e.to_string())?;
        Ok(())
    }
}
