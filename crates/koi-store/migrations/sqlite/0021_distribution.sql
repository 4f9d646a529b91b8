-- Two-level distribution (分销). A distributor is a customer who shares a
-- link (`token`, `/h5/d/{token}`) and earns commission on the orders of the
-- customers they brought (level 1) and of those customers' own referrals
-- (level 2), never further. `source`: opt_in (the customer or an operator
-- turned it on), campaign (a participant of a campaign with a rate rule).
-- `config_id`/`qr_code`: the distributor's personal contact way (state
-- `k1d{id}`), made by a job once `entry_state` is queued.
CREATE TABLE distribution_settings (
    corp_id BIGINT PRIMARY KEY REFERENCES corps(id),
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE distributors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    token TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    campaign_id BIGINT,
    active BOOLEAN NOT NULL DEFAULT 1,
    entry_state TEXT NOT NULL DEFAULT 'none',
    config_id TEXT NOT NULL DEFAULT '',
    qr_code TEXT NOT NULL DEFAULT '',
    entry_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (corp_id, customer_id)
);

-- Who brought whom: one referrer a customer, the first recorded (the
-- primary key makes a second one a no-op). `source`: link (opened a
-- distributor's share link), add (added a guide through the distributor's
-- contact way), campaign (invited in a distribution campaign's tree).
CREATE TABLE referrals (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    referrer_id BIGINT NOT NULL REFERENCES customers(id),
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, customer_id)
);
CREATE INDEX referrals_by_referrer ON referrals (corp_id, referrer_id);

-- One row per order and level: the unique key makes a repeated order earn
-- once. `full_fen` is what the level earned on `paid_fen`; `amount_fen` what
-- it earns after `refunded_fen` came back (cut only while pending).
-- pending → settled (at `settle_at`) → paying (in `payout_id`) → paid;
-- cancelled when refunded whole before settling.
CREATE TABLE commissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    order_ref TEXT NOT NULL,
    level BIGINT NOT NULL,
    distributor_id BIGINT NOT NULL REFERENCES distributors(id),
    buyer_id BIGINT NOT NULL REFERENCES customers(id),
    paid_fen BIGINT NOT NULL,
    refunded_fen BIGINT NOT NULL DEFAULT 0,
    full_fen BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL,
    state TEXT NOT NULL,
    paid_at BIGINT NOT NULL,
    settle_at BIGINT NOT NULL,
    payout_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, order_ref, level)
);
CREATE INDEX commissions_due ON commissions (state, settle_at);
CREATE INDEX commissions_by_distributor ON commissions (distributor_id, state);

-- A payout batch and its transfers (企业付款到零钱), one a distributor.
-- `partner_trade_no` is WeChat Pay's idempotency key, fixed with the row:
-- a retry asks with the same one and is never paid twice.
CREATE TABLE payout_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    created_by TEXT NOT NULL,
    payouts BIGINT NOT NULL,
    total_fen BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE payouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    batch_id BIGINT NOT NULL REFERENCES payout_batches(id),
    distributor_id BIGINT NOT NULL REFERENCES distributors(id),
    amount_fen BIGINT NOT NULL,
    partner_trade_no TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    payment_no TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX payouts_by_batch ON payouts (batch_id);
CREATE INDEX payouts_by_distributor ON payouts (distributor_id);
