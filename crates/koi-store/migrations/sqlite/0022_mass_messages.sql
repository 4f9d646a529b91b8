-- Mass sends (群发), the fatigue cap's touches, and moments (朋友圈).
--
-- A mass send is planned once (`queued` or `scheduled` → `planned`, or
-- `cancelled`): its audience is resolved, each customer is admitted by the
-- fatigue cap or skipped (`mass_send_skips`, with the reason), and each
-- guide gets a guide task (`guide_tasks` with purpose `mass_send`) that
-- WeCom creates once. `audience` and `content` are JSON; `origin` says who
-- asked: console, api or `sop:<rule id>`.
CREATE TABLE mass_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    audience TEXT NOT NULL,
    audience_label TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    guide_rule TEXT NOT NULL,
    origin TEXT NOT NULL,
    state TEXT NOT NULL,
    send_at BIGINT NOT NULL,
    planned INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    cancelled_at BIGINT
);
CREATE INDEX mass_sends_by_corp ON mass_sends (corp_id, id);

-- Customers of a mass send who were not given to a guide, and why
-- (`fatigue_cap`, `no_guide`); `staff_id` is the guide who would have sent it.
CREATE TABLE mass_send_skips (
    mass_send_id BIGINT NOT NULL REFERENCES mass_sends(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    corp_id BIGINT NOT NULL,
    staff_id BIGINT,
    reason TEXT NOT NULL,
    PRIMARY KEY (mass_send_id, customer_id)
);

-- Reminders koi sent a guide about an unconfirmed task (at most 3, by day).
ALTER TABLE guide_tasks ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE guide_tasks ADD COLUMN reminded_at BIGINT NOT NULL DEFAULT 0;
-- An operator cancelled the task (`cancel_groupmsg_send`).
ALTER TABLE guide_tasks ADD COLUMN cancelled BOOLEAN NOT NULL DEFAULT 0;

-- The fatigue cap's ledger: one row per (customer, source, ref) that
-- touched a customer (a mass send, an SOP push, a campaign notice). The cap
-- counts rows in the window; the key makes a touch count once.
CREATE TABLE touches (
    corp_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    ref TEXT NOT NULL,
    touched_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, customer_id, source, ref)
);
CREATE INDEX touches_by_time ON touches (corp_id, customer_id, touched_at);

-- Moments posts: `add_moment_task` is created once (queued → sending →
-- posting → posted | failed | unknown), then read until WeCom says which
-- guides published it, and with what likes and comments.
CREATE TABLE moments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    state TEXT NOT NULL,
    jobid TEXT NOT NULL DEFAULT '',
    wecom_moment_id TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    reads INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX moments_by_corp ON moments (corp_id, id);

-- Each guide asked to post a moment: published or not, likes, comments.
CREATE TABLE moment_guides (
    moment_id BIGINT NOT NULL REFERENCES moments(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    corp_id BIGINT NOT NULL,
    userid TEXT NOT NULL,
    posted BOOLEAN NOT NULL DEFAULT 0,
    likes INTEGER NOT NULL DEFAULT 0,
    comments INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (moment_id, staff_id)
);
