-- Acquisition: channel live codes, customers and their follows (customer ×
-- staff), the core table every report reads.
CREATE TABLE channel_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    store_id BIGINT,
    draft TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '',
    config_id TEXT,
    qr_code TEXT,
    -- Staff ids currently in the contact way, as koi last set them.
    on_duty TEXT NOT NULL DEFAULT '[]',
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX channel_codes_by_corp ON channel_codes (corp_id, id);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    external_userid TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    avatar TEXT NOT NULL DEFAULT '',
    kind INTEGER NOT NULL DEFAULT 1,
    gender INTEGER NOT NULL DEFAULT 0,
    unionid TEXT NOT NULL DEFAULT '',
    first_code_id BIGINT,
    first_store_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, external_userid)
);

CREATE TABLE follows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    added_at BIGINT NOT NULL,
    add_way INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '',
    code_id BIGINT,
    store_id BIGINT,
    is_returning BOOLEAN NOT NULL DEFAULT 0,
    deleted_at BIGINT,
    deleted_by TEXT,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, customer_id, staff_id)
);
CREATE INDEX follows_by_code ON follows (corp_id, code_id, added_at);
