-- Customer groups (社群) as WeCom lists them (`groupchat/get`), with what
-- koi adds: a kind and a store. `synced_at` is when the state recorded was
-- read from WeCom; a read older than it is never recorded over it.
CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    chat_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    owner_userid TEXT NOT NULL DEFAULT '',
    owner_staff_id BIGINT REFERENCES staff(id),
    notice TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'custom',
    store_id BIGINT REFERENCES stores(id),
    member_version TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'active',
    members INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL DEFAULT 0,
    synced_at BIGINT NOT NULL DEFAULT 0,
    UNIQUE (corp_id, chat_id)
);
CREATE INDEX groups_by_kind ON groups (corp_id, kind);
CREATE INDEX groups_by_store ON groups (corp_id, store_id);

-- One row per member per stay: a member who leaves keeps the row with
-- `left_at` set; coming back (a new WeCom join_time) is a new row.
CREATE TABLE group_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL,
    group_id BIGINT NOT NULL REFERENCES groups(id),
    userid TEXT NOT NULL,
    member_type TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    name TEXT NOT NULL DEFAULT '',
    join_time BIGINT NOT NULL,
    join_scene INTEGER NOT NULL DEFAULT 0,
    invitor TEXT NOT NULL DEFAULT '',
    left_at BIGINT,
    UNIQUE (group_id, userid, join_time)
);
CREATE INDEX group_members_present ON group_members (group_id, left_at);
CREATE INDEX group_members_by_customer ON group_members (corp_id, customer_id);
