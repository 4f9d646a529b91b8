-- SOP (标准作业流程), scripts (话术), materials (素材) and the guide's sidebar.

-- A rule: `draft` is the operator's validated rule (JSON: trigger, audience,
-- steps); `trigger_kind` is what the timer and the event hooks filter on.
-- `enabled_at` is when it was last enabled: per-customer steps due before
-- it are not fired (enabling a rule does not flood old customers).
-- `checked_until` is the calendar timer's watermark: occurrences due up to
-- it have been fired.
CREATE TABLE sop_rules (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    draft TEXT NOT NULL,
    template TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    enabled_at BIGINT,
    checked_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sop_rules_enabled ON sop_rules (corp_id, enabled, trigger_kind);

-- One step of a rule for one target (a customer or a group) and one
-- occurrence (0 for per-customer triggers; the calendar date's day number
-- for weekly and festival rules). Unique: a step fires at most once per
-- target and occurrence, whichever node or restart gets there.
-- state: pending (waits for due_at), done (its action happened), skipped
-- (with the reason in note: the fatigue cap, no guide, the rule disabled).
CREATE TABLE sop_fires (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    rule_id BIGINT NOT NULL REFERENCES sop_rules(id),
    step INTEGER NOT NULL,
    target_kind TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    occurrence BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    note TEXT NOT NULL DEFAULT '',
    fired_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (rule_id, step, target_kind, target_id, occurrence)
);
CREATE INDEX sop_fires_due ON sop_fires (corp_id, state, due_at);

-- The script library: `keywords` is space-separated, searched with the title and body.
CREATE TABLE scripts (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    folder TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    keywords TEXT NOT NULL DEFAULT '',
    uses BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX scripts_by_folder ON scripts (corp_id, folder);

-- The material centre.
CREATE TABLE materials (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    kind TEXT NOT NULL,
    folder TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    appid TEXT NOT NULL DEFAULT '',
    page TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX materials_by_folder ON materials (corp_id, folder);

-- A material sent to one customer: `/m/{token}` redirects to the material
-- and records the open. An open counts once per link per window
-- (`last_open_at`); `opens` counts the opens that counted.
CREATE TABLE material_links (
    token TEXT PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    material_id BIGINT NOT NULL REFERENCES materials(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    staff_id BIGINT,
    opens BIGINT NOT NULL DEFAULT 0,
    last_open_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX material_links_by_material ON material_links (corp_id, material_id);
CREATE INDEX material_links_by_customer ON material_links (corp_id, customer_id);

-- A guide's to-do in the sidebar: made by an SOP step (`fire_id`, unique)
-- for a customer or a group the guide owns. state: todo or done.
CREATE TABLE sop_tasks (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    customer_id BIGINT REFERENCES customers(id),
    group_id BIGINT,
    rule_id BIGINT REFERENCES sop_rules(id),
    fire_id BIGINT UNIQUE REFERENCES sop_fires(id),
    title TEXT NOT NULL,
    script_id BIGINT,
    material_id BIGINT,
    state TEXT NOT NULL DEFAULT 'todo',
    due_at BIGINT NOT NULL,
    done_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX sop_tasks_of_staff ON sop_tasks (corp_id, staff_id, state, due_at);
CREATE INDEX sop_tasks_of_customer ON sop_tasks (corp_id, customer_id);

-- A guide's note on a customer (the sidebar's note field): one per guide and customer.
CREATE TABLE customer_notes (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (customer_id, staff_id)
);
