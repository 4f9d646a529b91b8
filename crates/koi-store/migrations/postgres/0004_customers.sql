-- Customers, tags, lifecycle and segments.
--
-- Every customer gets a dense number per corp (`no`, 0, 1, 2, …) from the
-- corp's counter, so segment sets are RoaringBitmaps over small integers.
-- Facts a segment can ask about live on the customer row as counters, kept
-- up to date in the same transaction as the event that changes them, and
-- every such transaction appends to `customer_changes`, the log the
-- in-memory segment index follows.
ALTER TABLE corps ADD COLUMN customer_seq BIGINT NOT NULL DEFAULT 0;

ALTER TABLE customers ADD COLUMN no BIGINT;
ALTER TABLE customers ADD COLUMN added_at BIGINT;
ALTER TABLE customers ADD COLUMN stage TEXT NOT NULL DEFAULT 'new';
ALTER TABLE customers ADD COLUMN rfm_r INTEGER;
ALTER TABLE customers ADD COLUMN rfm_f INTEGER;
ALTER TABLE customers ADD COLUMN rfm_m INTEGER;
ALTER TABLE customers ADD COLUMN influence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN orders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN spent_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN first_order_at BIGINT;
ALTER TABLE customers ADD COLUMN last_order_at BIGINT;
ALTER TABLE customers ADD COLUMN last_active_at BIGINT;
ALTER TABLE customers ADD COLUMN friends_brought INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN groups_joined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN shares INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN home_lat DOUBLE PRECISION;
ALTER TABLE customers ADD COLUMN home_lng DOUBLE PRECISION;

UPDATE customers SET added_at = created_at,
    no = (SELECT COUNT(*) FROM customers o WHERE o.corp_id = customers.corp_id AND o.id < customers.id);
UPDATE corps SET customer_seq = (SELECT COUNT(*) FROM customers WHERE customers.corp_id = corps.id);
-- PostgreSQL numbers each corp's customers from a sequence of its own
-- (`customer_no_<corp id>`, made with the corp); `customer_seq` is SQLite's.
DO $$
DECLARE r RECORD;
BEGIN
    FOR r IN SELECT id, customer_seq FROM corps LOOP
        EXECUTE format('CREATE SEQUENCE customer_no_%s MINVALUE 0 START %s', r.id, r.customer_seq);
    END LOOP;
END $$;
ALTER TABLE customers ALTER COLUMN no SET NOT NULL;
ALTER TABLE customers ALTER COLUMN added_at SET NOT NULL;
CREATE UNIQUE INDEX customers_no ON customers (corp_id, no);

CREATE TABLE customer_changes (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX customer_changes_by_corp ON customer_changes (corp_id, id);

CREATE TABLE tag_groups (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    wecom_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ord BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, wecom_id)
);

CREATE TABLE tags (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    group_id BIGINT NOT NULL REFERENCES tag_groups(id) ON DELETE CASCADE,
    wecom_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ord BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, wecom_id)
);

-- A customer's tags, by WeCom tag id (`et…`), with what put each one there.
CREATE TABLE customer_tags (
    corp_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    tag_id TEXT NOT NULL,
    source TEXT NOT NULL,
    tagged_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, customer_id, tag_id)
);
CREATE INDEX customer_tags_by_tag ON customer_tags (corp_id, tag_id);

CREATE TABLE tag_rules (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    -- JSON: trigger, add_tags, remove_tags.
    rule TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE field_defs (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    -- JSON FieldKind.
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (corp_id, name)
);

CREATE TABLE customer_fields (
    corp_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, customer_id, name)
);

-- Per-corp settings as JSON, e.g. `value_rules` (stages, RFM, influence).
CREATE TABLE corp_settings (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, key)
);

CREATE TABLE segments (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    -- The canonical text form of the expression.
    expr TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX segments_by_corp ON segments (corp_id, id);
