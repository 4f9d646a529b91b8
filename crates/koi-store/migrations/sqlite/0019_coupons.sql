-- Coupons (优惠券), points (积分) and the points mall.

-- A coupon template: what a coupon gives (kind, value, threshold, percent
-- paid or gift), its validity (fixed `valid_from`..`valid_to`, or
-- `valid_days` from issue), the limit per customer (0: none), the stock
-- (NULL: no bound; `issued` counts against it and never passes it), and
-- the stores where it counts (`store_ids`, JSON list; empty: all).
CREATE TABLE coupon_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    value_fen BIGINT NOT NULL DEFAULT 0,
    min_fen BIGINT NOT NULL DEFAULT 0,
    discount_pct INTEGER NOT NULL DEFAULT 0,
    gift TEXT NOT NULL DEFAULT '',
    valid_from BIGINT,
    valid_to BIGINT,
    valid_days INTEGER,
    per_customer INTEGER NOT NULL DEFAULT 0,
    stock BIGINT,
    issued BIGINT NOT NULL DEFAULT 0,
    store_ids TEXT NOT NULL DEFAULT '[]',
    archived BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX coupon_templates_by_corp ON coupon_templates (corp_id, id);

-- How many coupons of a template a customer was issued: the per-customer
-- limit is one conditional upsert on this row, so two issues at once
-- cannot both pass it.
CREATE TABLE coupon_holdings (
    template_id BIGINT NOT NULL REFERENCES coupon_templates(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    issued INTEGER NOT NULL,
    PRIMARY KEY (template_id, customer_id)
);

-- An issued coupon. `code` is unguessable and unique. state: issued →
-- redeemed | expired | revoked (a redeemed coupon of a fully refunded
-- order goes back to issued while still valid). `source`: hand, segment,
-- campaign, exchange; `source_ref` (when not empty) makes an issue once per
-- customer: `issue:7` (a segment issue), `reward:12`, `exchange:3`.
CREATE TABLE coupons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    template_id BIGINT NOT NULL REFERENCES coupon_templates(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    code TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to BIGINT NOT NULL,
    source TEXT NOT NULL,
    source_ref TEXT NOT NULL DEFAULT '',
    issued_by TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    redeemed_at BIGINT,
    order_ref TEXT,
    order_fen BIGINT,
    off_fen BIGINT,
    redeemed_store_id BIGINT,
    redeemed_by TEXT,
    reminded BOOLEAN NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX coupons_once_per_source ON coupons (corp_id, source_ref, customer_id) WHERE source_ref <> '';
CREATE INDEX coupons_by_customer ON coupons (corp_id, customer_id);
CREATE INDEX coupons_by_template ON coupons (template_id, state);
CREATE INDEX coupons_by_state ON coupons (state, valid_to);
CREATE INDEX coupons_by_order ON coupons (corp_id, order_ref);

-- Issuing a template to a segment: a job that walks the segment's
-- customers in pages (`cursor` = the last customer id done).
CREATE TABLE coupon_issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    template_id BIGINT NOT NULL REFERENCES coupon_templates(id),
    segment_id BIGINT NOT NULL,
    segment_name TEXT NOT NULL,
    expr TEXT NOT NULL,
    planned INTEGER NOT NULL,
    issued INTEGER NOT NULL DEFAULT 0,
    over_limit INTEGER NOT NULL DEFAULT 0,
    out_of_stock INTEGER NOT NULL DEFAULT 0,
    cursor BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX coupon_issues_by_corp ON coupon_issues (corp_id, id);

-- The corp's points rules.
CREATE TABLE points_rules (
    corp_id BIGINT PRIMARY KEY REFERENCES corps(id),
    per_yuan BIGINT NOT NULL,
    checkin BIGINT NOT NULL,
    review BIGINT NOT NULL,
    expire_days INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A customer's balance: the sum of their ledger, never negative (a
-- conditional update). Every ledger write touches it first, which
-- serialises a customer's ledger writes on PostgreSQL.
CREATE TABLE points_accounts (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    balance BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, customer_id),
    CHECK (balance >= 0)
);

-- The ledger: one row per move (signed `points`). An earn is a lot:
-- `lot_left` is what is left of it, taken oldest first; `expires_at` when
-- what is left expires. `ref`: the order, reward or exchange; an order's
-- earn is once per (customer, order). `amount_fen`: the order's paid
-- amount (earn) or refunded total (refund). `shortfall`: points a
-- take-back could not take (the balance was spent).
CREATE TABLE points_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    points BIGINT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    ref TEXT NOT NULL DEFAULT '',
    amount_fen BIGINT NOT NULL DEFAULT 0,
    lot_left BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    shortfall BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX points_earn_once ON points_ledger (corp_id, customer_id, kind, ref)
    WHERE ref <> '' AND kind IN ('order', 'campaign', 'exchange');
CREATE INDEX points_ledger_by_customer ON points_ledger (corp_id, customer_id, id);
CREATE INDEX points_lots ON points_ledger (corp_id, customer_id, created_at) WHERE lot_left > 0;
CREATE INDEX points_expiring ON points_ledger (expires_at) WHERE lot_left > 0;

-- The points mall: an item is a coupon (of a template) or a gift, for a
-- points price, with a stock (NULL: no bound; `exchanged` never passes it).
CREATE TABLE mall_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    template_id BIGINT REFERENCES coupon_templates(id),
    gift TEXT NOT NULL DEFAULT '',
    points BIGINT NOT NULL,
    stock BIGINT,
    exchanged BIGINT NOT NULL DEFAULT 0,
    archived BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mall_items_by_corp ON mall_items (corp_id, id);

-- An exchange: points spent, a unit of stock taken and the coupon or a
-- gift code given, in one transaction. `request_key` (from the H5 form)
-- makes a double submit one exchange.
CREATE TABLE mall_exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    item_id BIGINT NOT NULL REFERENCES mall_items(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    points BIGINT NOT NULL,
    coupon_id BIGINT,
    gift_code TEXT,
    request_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (corp_id, request_key)
);
CREATE INDEX mall_exchanges_by_corp ON mall_exchanges (corp_id, id);
