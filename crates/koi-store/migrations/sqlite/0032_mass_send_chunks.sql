-- A mass send is planned in chunks, so that no transaction is as large as
-- its audience: the start job stages the split (each customer once, with
-- the guide who sends it, or none) in small commits, then moves the send
-- to `planning` with the number of chunks; each chunk's job, in its own
-- transaction, takes its rows out of the stage (a chunk whose rows are
-- gone was planned already), admits them through the fatigue cap, records
-- the skipped ones and plans its guides' tasks. The chunk that brings
-- `chunks_left` to 0 moves the send to `planned`.
CREATE TABLE mass_send_stage (
    mass_send_id BIGINT NOT NULL REFERENCES mass_sends(id),
    customer_id BIGINT NOT NULL,
    corp_id BIGINT NOT NULL,
    chunk INTEGER NOT NULL,
    staff_id BIGINT,
    external_userid TEXT NOT NULL,
    PRIMARY KEY (mass_send_id, customer_id)
);
CREATE INDEX mass_send_stage_by_chunk ON mass_send_stage (mass_send_id, chunk, customer_id);

ALTER TABLE mass_sends ADD COLUMN chunks_left INTEGER NOT NULL DEFAULT 0;
