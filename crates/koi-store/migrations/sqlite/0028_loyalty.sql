-- Points a customer earns by coming back and by saying how an order went:
-- a daily check-in (once a customer and Asia/Shanghai day, with a bonus
-- on every `streak_days`-th day in a row) and a review of a done order
-- (once an order).

-- The streak rule beside the check-in points (0 days: no streak bonus).
ALTER TABLE points_rules ADD COLUMN streak_days INTEGER NOT NULL DEFAULT 7;
ALTER TABLE points_rules ADD COLUMN streak_bonus BIGINT NOT NULL DEFAULT 0;

-- One row a customer and Shanghai day (`day` = YYYY-MM-DD): the primary
-- key makes a second tap, on any node, the same check-in. `streak`: days
-- in a row up to this one; `points`: what it earned.
CREATE TABLE points_checkins (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    day TEXT NOT NULL,
    streak INTEGER NOT NULL,
    points BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, customer_id, day)
);

-- A customer's review of a done order: one an order.
CREATE TABLE order_reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    order_id BIGINT NOT NULL REFERENCES orders(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    rating INTEGER NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    points BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (corp_id, order_id)
);
CREATE INDEX order_reviews_by_customer ON order_reviews (corp_id, customer_id);

-- Check-in and review earns are once per customer and ref (the day, the
-- order) in the ledger too.
CREATE UNIQUE INDEX points_earn_once_more ON points_ledger (corp_id, customer_id, kind, ref)
    WHERE ref <> '' AND kind IN ('checkin', 'review');
