-- The durable callback inbox: every verified WeCom callback is stored here,
-- once (dedup_key = SHA-256 of the plaintext), before WeCom gets its 200.
-- Workers claim pending rows and run the pipeline; done rows can be replayed.
CREATE TABLE wecom_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL,
    dedup_key TEXT NOT NULL,
    event TEXT NOT NULL,
    plaintext TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at BIGINT NOT NULL DEFAULT 0,
    locked_by TEXT,
    locked_until BIGINT,
    processed_at BIGINT,
    last_error TEXT,
    UNIQUE (corp_id, dedup_key)
);
CREATE INDEX wecom_inbox_pending ON wecom_inbox (state, run_at, id);
