-- What members say in customer groups, read from WeCom's session archive
-- (会话存档) feed in order of its `seq`. Written by the group assistant's
-- feed reader; read by the assistant (keyword replies, sensitive words) and
-- by the group metrics (speakers, messages, activity rate).
CREATE TABLE group_messages (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    seq BIGINT NOT NULL,
    msgid TEXT NOT NULL,
    -- WeCom's sender id: a staff userid or a customer's external_userid.
    sender TEXT NOT NULL,
    -- The koi customer who spoke, when the sender is one koi knows.
    customer_id BIGINT REFERENCES customers(id),
    -- text, image, link (others are kept with an empty content).
    msg_type TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    sent_at BIGINT NOT NULL,
    UNIQUE (corp_id, msgid)
);
CREATE INDEX group_messages_by_group ON group_messages (group_id, sent_at);

-- How far the feed has been read, per corp.
CREATE TABLE group_message_cursors (
    corp_id BIGINT PRIMARY KEY REFERENCES corps(id),
    seq BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL DEFAULT 0
);
