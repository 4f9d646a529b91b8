-- Handovers (继承): a guide's customers and groups moved to other guides
-- with WeCom's transfer APIs. `kind`: on_leave (resigned/transfer_customer)
-- or on_job (transfer_customer, with the message the customer sees).
-- `state`: running → done once every item has WeCom's final word (or koi
-- stopped asking).
CREATE TABLE handovers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    kind TEXT NOT NULL,
    from_staff_id BIGINT NOT NULL REFERENCES staff(id),
    message TEXT NOT NULL DEFAULT '',
    include_groups BOOLEAN NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'running',
    polls INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX handovers_by_corp ON handovers (corp_id, id);

-- One transfer call: up to 100 customers of one receiver. A transfer is
-- not idempotent, so the batch is claimed (`sending`, in its own commit)
-- before the call: queued → sending → sent | refused | unknown.
CREATE TABLE handover_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL,
    handover_id BIGINT NOT NULL REFERENCES handovers(id),
    receiver_staff_id BIGINT NOT NULL REFERENCES staff(id),
    state TEXT NOT NULL DEFAULT 'queued',
    note TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);
CREATE INDEX handover_batches_by_handover ON handover_batches (handover_id);

-- Each customer of a handover: planned → sending → waiting → accepted |
-- refused | receiver_full; or over_limit / failed (with WeCom's errcode
-- in `reason`) / unknown. Skipped ones (over_limit before the call) have
-- no batch.
CREATE TABLE handover_items (
    handover_id BIGINT NOT NULL REFERENCES handovers(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    corp_id BIGINT NOT NULL,
    external_userid TEXT NOT NULL,
    receiver_staff_id BIGINT NOT NULL REFERENCES staff(id),
    batch_id BIGINT,
    store_id BIGINT,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    takeover_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (handover_id, customer_id)
);
CREATE INDEX handover_items_by_customer ON handover_items (corp_id, customer_id);
CREATE INDEX handover_items_by_batch ON handover_items (batch_id);

-- Each group of a handover: planned → moved | failed (WeCom's errcode).
CREATE TABLE handover_groups (
    handover_id BIGINT NOT NULL REFERENCES handovers(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    corp_id BIGINT NOT NULL,
    chat_id TEXT NOT NULL,
    receiver_staff_id BIGINT NOT NULL REFERENCES staff(id),
    status TEXT NOT NULL DEFAULT 'planned',
    reason TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (handover_id, group_id)
);

-- A customer deleted their guide (del_follow_user): the alert to the guide
-- and the store's loss recipients, sent once as a WeCom app message
-- (queued → sending → sent | refused | unknown). `day`: Asia/Shanghai.
CREATE TABLE loss_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    store_id BIGINT,
    day TEXT NOT NULL,
    lost_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    recipients TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, customer_id, staff_id, lost_at)
);
CREATE INDEX loss_alerts_by_day ON loss_alerts (corp_id, day);

-- A store's daily loss summary (store 0: customers of no store), made once.
CREATE TABLE loss_summaries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    store_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    lost INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    recipients TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, store_id, day)
);

-- Who gets a store's loss alerts and summary besides the guide (店长).
CREATE TABLE store_loss_recipients (
    corp_id BIGINT NOT NULL,
    store_id BIGINT NOT NULL REFERENCES stores(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    PRIMARY KEY (corp_id, store_id, staff_id)
);
