-- The group assistant (群助手): keyword auto-replies over what members say
-- in groups (read from `group_messages`), sensitive-word alerts to a group's
-- owner, and group welcome templates kept in WeCom.

-- Per corp: whether koi reads the session-archive feed, the app (AgentId)
-- that carries alerts to owners, and the sensitive words (a JSON array).
CREATE TABLE group_assistant_settings (
    corp_id BIGINT PRIMARY KEY REFERENCES corps(id),
    feed_enabled BOOLEAN NOT NULL DEFAULT 0,
    agent_id BIGINT,
    sensitive_words TEXT NOT NULL DEFAULT '[]',
    updated_at BIGINT NOT NULL DEFAULT 0
);

-- Keyword rules; `definition` is the validated rule as JSON. A deleted rule
-- is kept (deleted_at) so the replies it made still name it.
CREATE TABLE group_reply_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX group_reply_rules_by_corp ON group_reply_rules (corp_id, priority, id);

-- What a matched message came to: one row per triggering message (the
-- unique key is what makes a reply exactly once), queued → sent | refused,
-- or held back (quiet, cooldown).
CREATE TABLE group_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    message_id BIGINT NOT NULL REFERENCES group_messages(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    rule_id BIGINT NOT NULL REFERENCES group_reply_rules(id),
    sender TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    state TEXT NOT NULL,
    wecom_msgid TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    said_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, message_id)
);
CREATE INDEX group_replies_by_sender ON group_replies (corp_id, rule_id, sender, said_at);

-- A message with a sensitive word: shown in the console, and sent to the
-- group's owner as an app message (queued → sent | refused, or unsent when
-- no AgentId is set).
CREATE TABLE group_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    message_id BIGINT NOT NULL REFERENCES group_messages(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    sender TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    word TEXT NOT NULL,
    content TEXT NOT NULL,
    owner_userid TEXT NOT NULL,
    state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    said_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (corp_id, message_id)
);
CREATE INDEX group_alerts_by_corp ON group_alerts (corp_id, id);

-- Group welcome templates (入群欢迎语); `template_id` is WeCom's, set once
-- `group_welcome_template/add` answered. `definition` is the validated
-- template (text, attachment, the groups it is meant for) as JSON.
CREATE TABLE group_welcome_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    template_id TEXT NOT NULL DEFAULT '',
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX group_welcome_templates_by_corp ON group_welcome_templates (corp_id, id);
