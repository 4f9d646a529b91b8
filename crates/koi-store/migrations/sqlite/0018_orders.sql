-- Orders (订单): what shops, POS systems and koi's checkout report customers
-- bought, the customer each matched (by the keys it carried, in order), the
-- guide, store and channel code it is attributed to with the rule that
-- decided, and its refunds. An order is one row per corp and shop order id:
-- the same order posted again (webhook, API, CSV) is the same row.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    shop_order_id TEXT NOT NULL,
    -- `api`, `csv`, `checkout` or `webhook:<integration id>`.
    source TEXT NOT NULL,
    ordered_at BIGINT NOT NULL,
    store_code TEXT NOT NULL DEFAULT '',
    amount_fen BIGINT NOT NULL,
    paid_fen BIGINT NOT NULL,
    refunded_fen BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    unionid TEXT NOT NULL DEFAULT '',
    phone_hash TEXT NOT NULL DEFAULT '',
    external_userid TEXT NOT NULL DEFAULT '',
    member_id TEXT NOT NULL DEFAULT '',
    coupon_guide TEXT NOT NULL DEFAULT '',
    -- NULL until a key names a customer (a customer who adds after buying).
    customer_id BIGINT REFERENCES customers(id),
    matched_by TEXT,
    matched_at BIGINT,
    -- The attribution, decided when the order meets its customer.
    staff_id BIGINT,
    store_id BIGINT,
    code_id BIGINT,
    rule TEXT NOT NULL DEFAULT 'none',
    -- Whether it was the customer's first order when it counted.
    first_order BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, shop_order_id)
);
CREATE INDEX orders_by_time ON orders (corp_id, ordered_at);
CREATE INDEX orders_by_customer ON orders (corp_id, customer_id);
CREATE INDEX orders_waiting_unionid ON orders (corp_id, unionid) WHERE customer_id IS NULL;
CREATE INDEX orders_waiting_phone ON orders (corp_id, phone_hash) WHERE customer_id IS NULL;
CREATE INDEX orders_waiting_external ON orders (corp_id, external_userid) WHERE customer_id IS NULL;
CREATE INDEX orders_waiting_member ON orders (corp_id, member_id) WHERE customer_id IS NULL;

CREATE TABLE order_items (
    order_id BIGINT NOT NULL REFERENCES orders(id),
    line INTEGER NOT NULL,
    sku TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    qty BIGINT NOT NULL,
    price_fen BIGINT NOT NULL,
    PRIMARY KEY (order_id, line)
);

-- One row per shop refund id: the same refund again changes nothing.
CREATE TABLE order_refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    order_id BIGINT NOT NULL REFERENCES orders(id),
    refund_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (order_id, refund_id)
);

-- Keys a shop knows a customer by that WeCom does not give koi: the shop's
-- member id and the phone hash, learnt from an order that matched by
-- another key (or from the guide's remark phones), so the next order
-- carrying only that key finds the customer.
CREATE TABLE order_customer_keys (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, kind, value)
);

-- A shop posting orders to `/webhooks/orders/{key}`; `secret` signs its
-- posts (HMAC-SHA256), sealed under the master key like the corps' secrets.
CREATE TABLE order_integrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    last_used_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, name)
);

-- Orders find their customer by unionid first.
CREATE INDEX customers_by_unionid ON customers (corp_id, unionid);
