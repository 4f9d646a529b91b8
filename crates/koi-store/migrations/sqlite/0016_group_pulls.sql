-- Guide tasks: one WeCom customer mass-message task (`add_msg_template`,
-- chat_type single) from one guide to some of their customers, for a
-- purpose (`group_pull`, `first_order_invite`; later mass messages). A
-- guide with more than 10,000 customers gets one task per `part`.
-- `state`: queued → sending (claimed in its own commit just before the
-- call) → created | refused | unknown (an earlier attempt may have reached
-- WeCom without an answer: never sent again). `settled`: WeCom's send
-- results are read to the end (the guide confirmed, or koi stopped asking).
CREATE TABLE guide_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    purpose TEXT NOT NULL,
    purpose_id BIGINT NOT NULL,
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    sender TEXT NOT NULL,
    part INTEGER NOT NULL DEFAULT 0,
    content TEXT NOT NULL,
    state TEXT NOT NULL,
    wecom_msgid TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    settled BOOLEAN NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    results_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, purpose, purpose_id, staff_id, part)
);

-- Each customer of a guide task: planned → sent | not_sent | failed, with
-- WeCom's reason (not a friend any more, quota used, not sendable).
CREATE TABLE guide_task_recipients (
    task_id BIGINT NOT NULL REFERENCES guide_tasks(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    corp_id BIGINT NOT NULL,
    external_userid TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'planned',
    reason TEXT NOT NULL DEFAULT '',
    sent_at BIGINT,
    PRIMARY KEY (task_id, customer_id)
);
CREATE INDEX guide_task_recipients_by_customer ON guide_task_recipients (corp_id, customer_id);

-- A tag / segment group pull (标签拉群): the segment's customers, each once
-- under the guide of their most recent live follow, invited to a group
-- code by their guides' tasks. The segment and code are copied by name:
-- the pull's record stays readable after either changes.
CREATE TABLE group_pulls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    segment_id BIGINT NOT NULL,
    segment_name TEXT NOT NULL,
    expr TEXT NOT NULL,
    code_id BIGINT NOT NULL,
    code_name TEXT NOT NULL,
    text TEXT NOT NULL,
    link_url TEXT NOT NULL,
    planned INTEGER NOT NULL,
    unfollowed INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    started_at BIGINT NOT NULL
);
CREATE INDEX group_pulls_by_corp ON group_pulls (corp_id, id);

-- A group code's invitation after a first order (seed 000: education →
-- paid): customers present in a group of one of `from_kinds` (JSON list)
-- are invited to the code by their guide when their first order arrives.
CREATE TABLE first_order_invites (
    code_id BIGINT PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    from_kinds TEXT NOT NULL,
    text TEXT NOT NULL,
    link_url TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Each invitation made: once per customer per code.
CREATE TABLE first_order_invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    code_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    staff_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (corp_id, code_id, customer_id)
);
