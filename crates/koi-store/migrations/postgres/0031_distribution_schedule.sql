-- Distribution, the missing parts (issue 14).
--
-- Claw-backs: a refund after a commission settled leaves the commission as
-- it is and writes a negative entry (`clawback_of` = the commission, with
-- the order's refunded total that caused it in `refunded_fen`), settled at
-- once and netted against the distributor's next payout. An order still
-- earns once a level (`commissions_once`); a refund total claws back once
-- (`commissions_clawback_once`).
ALTER TABLE commissions DROP CONSTRAINT commissions_corp_id_order_ref_level_key;
ALTER TABLE commissions ADD COLUMN clawback_of BIGINT;
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
