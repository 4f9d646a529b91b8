-- Products and checkout: a light catalogue sold through an H5 page and
-- WeChat Pay's JSAPI payments.
--
-- `draft` is the operator's validated product (JSON); `stock` lives in its
-- own column because checkouts move it: a checkout reserves its items with
-- `UPDATE … SET stock = stock - n WHERE stock >= n` (never below zero, on
-- both databases) and a closed one gives them back.
CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    price_fen BIGINT NOT NULL,
    stock BIGINT NOT NULL CHECK (stock >= 0),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    draft TEXT NOT NULL,
    public_token TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, sku)
);

-- A customer's checkout: created (stock reserved, a prepay order at WeChat
-- Pay) → paid | closed; a paid one may be part_refunded or refunded.
-- `out_trade_no` is WeChat Pay's idempotency key of the order.
-- `refunded_fen` counts refunds asked for (done or in flight), so two
-- refunds can never take more than was paid.
CREATE TABLE checkouts (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    out_trade_no TEXT NOT NULL UNIQUE,
    subtotal_fen BIGINT NOT NULL,
    total_fen BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'created',
    prepay_id TEXT NOT NULL DEFAULT '',
    openid TEXT NOT NULL DEFAULT '',
    transaction_id TEXT NOT NULL DEFAULT '',
    refunded_fen BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL,
    paid_at BIGINT,
    closed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX checkouts_by_corp ON checkouts (corp_id, created_at);
CREATE INDEX checkouts_open ON checkouts (state, created_at);
CREATE INDEX checkouts_by_customer ON checkouts (corp_id, customer_id);

-- The lines of a checkout, priced when it was created.
CREATE TABLE checkout_items (
    checkout_id BIGINT NOT NULL REFERENCES checkouts(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    qty BIGINT NOT NULL,
    unit_fen BIGINT NOT NULL,
    total_fen BIGINT NOT NULL,
    PRIMARY KEY (checkout_id, product_id)
);
CREATE INDEX checkout_items_by_product ON checkout_items (product_id);

-- Refunds: pending (asked for, WeChat Pay not yet sure) → done | failed.
-- `out_refund_no` is WeChat Pay's idempotency key of the refund.
CREATE TABLE checkout_refunds (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    checkout_id BIGINT NOT NULL REFERENCES checkouts(id),
    out_refund_no TEXT NOT NULL UNIQUE,
    amount_fen BIGINT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',
    refund_id TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX checkout_refunds_by_checkout ON checkout_refunds (checkout_id);
