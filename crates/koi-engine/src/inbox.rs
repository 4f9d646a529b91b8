//! Group commit for the callback inbox. Callbacks arrive concurrently; one
//! writer task gathers whatever is waiting into a single transaction, so the
//! database pays one commit for many acknowledgements. Each caller is
//! answered only after its row is durable.

use koi_store::inbox::InboxItem;
use koi_store::Db;
use tokio::sync::{mpsc, oneshot};

/// Most rows gathered into one commit.
const MAX_BATCH: usize = 1024;

type Reply = oneshot::Sender<Result<bool, String>>;

/// A handle on the writer task; cheap to clone.
#[derive(Clone)]
pub struct InboxWriter {
    queue: mpsc::Sender<(InboxItem, Reply)>,
}

impl InboxWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> InboxWriter {
        let (queue, mut rx) = mpsc::channel::<(InboxItem, Reply)>(MAX_BATCH * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (items, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
                let started = std::time::Instant::now();
                let result = db.inbox_append(&items).await;
                tracing::debug!(rows = items.len(), ms = started.elapsed().as_secs_f64() * 1000.0, "inbox batch");
                match result {
                    Ok(fresh) => {
                        for (reply, new) in replies.into_iter().zip(fresh) {
                            let _ = reply.send(Ok(new));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, rows = items.len(), "inbox append failed; WeCom will retry");
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        InboxWriter { queue }
    }

    /// Appends one item durably; `Ok(false)` when it was already there.
    pub async fn append(&self, item: InboxItem) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((item, reply)).await.map_err(|_| "the inbox writer has stopped".to_string())?;
        answer.await.map_err(|_| "the inbox writer has stopped".to_string())?
    }
}

/// Processed rows deleted per statement when pruning.
const PRUNE_BATCH: i64 = 5_000;

impl crate::Engine {
    /// Deletes processed callbacks received longer ago than
    /// `Settings::inbox_keep_ms`; pending and failed ones stay. Returns how
    /// many went.
    pub async fn prune_inbox(&self, now: i64) -> koi_store::Result<u64> {
        let before = now - self.settings.inbox_keep_ms;
        let mut total = 0;
        loop {
            let n = self.db.prune_inbox(before, PRUNE_BATCH).await?;
            total += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(total);
            }
            // Let callbacks waiting for the writer in between.
            tokio::task::yield_now().await;
        }
    }
}
