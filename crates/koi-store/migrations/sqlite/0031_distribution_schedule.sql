-- Distribution, the missing parts (issue 14).
--
-- Claw-backs: a refund after a commission settled leaves the commission as
-- it is and writes a negative entry (`clawback_of` = the commission, with
-- the order's refunded total that caused it in `refunded_fen`), settled at
-- once and netted against the distributor's next payout. An order still
-- earns once a level (`commissions_once`); a refund total claws back once
-- (`commissions_clawback_once`). SQLite cannot drop a table's UNIQUE, so
-- the table is copied into its new shape.
CREATE TABLE commissions_next (
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
    clawback_of BIGINT
);
INSERT INTO commissions_next (id, corp_id, order_ref, level, distributor_id, buyer_id, paid_fen, refunded_fen,
    full_fen, amount_fen, state, paid_at, settle_at, payout_id, created_at, updated_at)
SELECT id, corp_id, order_ref, level, distributor_id, buyer_id, paid_fen, refunded_fen,
    full_fen, amount_fen, state, paid_at, settle_at, payout_id, created_at, updated_at FROM commissions;
DROP TABLE commissions;
ALTER TABLE commissions_next RENAME TO commissions;
CREATE INDEX commissions_due ON commissions (state, settle_at);
CREATE INDEX commissions_by_distributor ON commissions (distributor_id, state);
CREATE UNIQUE INDEX commissions_once ON commissions (corp_id, order_ref, level) WHERE clawback_of IS NULL;
CREATE UNIQUE INDEX commissions_clawback_once ON commissions (clawback_of, refunded_fen) WHERE clawback_of IS NOT NULL;

-- Scheduled payout batches: one row a corp and slot (the slot's start, UTC
-- ms), written in the transaction that runs the slot's batch, so a slot
-- runs once however many workers reach it. `batch_id` is empty when
-- nothing was owed.
CREATE TABLE payout_slots (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    slot_at BIGINT NOT NULL,
    batch_id BIGINT REFERENCES payout_batches(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, slot_at)
);
