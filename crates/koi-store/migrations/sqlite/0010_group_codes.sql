-- Group live codes (群活码): one QR (a WeCom join way) for a series of
-- groups that koi rotates as they fill, or a nearest-store code whose
-- landing page shows the nearest store's group code. `settings` is the
-- operator's draft (JSON); `listed` the chat ids koi last gave the join way;
-- `way_version` moves with every rotation recorded, so two rotations that
-- ran at once cannot both record (the later one retries); `warning` is the
-- last warning level, so a warning is logged once per crossing.
CREATE TABLE group_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    code_type TEXT NOT NULL,
    store_id BIGINT REFERENCES stores(id),
    public_token TEXT NOT NULL,
    settings TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '',
    config_id TEXT,
    qr_code TEXT,
    listed TEXT NOT NULL DEFAULT '[]',
    way_version BIGINT NOT NULL DEFAULT 0,
    warning TEXT NOT NULL DEFAULT '',
    rotation_queued BOOLEAN NOT NULL DEFAULT 0,
    rotated_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_codes_public_token ON group_codes (public_token);
CREATE INDEX group_codes_by_state ON group_codes (corp_id, state);

-- A code's groups in the operator's order. A group taken out of a code
-- keeps its row (`removed`), so a group whose members still carry the
-- code's state is not adopted back; `adopted` marks groups WeCom opened
-- for the code (auto_create_room).
CREATE TABLE group_code_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL,
    code_id BIGINT NOT NULL REFERENCES group_codes(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    position INTEGER NOT NULL,
    adopted BOOLEAN NOT NULL DEFAULT 0,
    removed BOOLEAN NOT NULL DEFAULT 0,
    UNIQUE (code_id, group_id)
);
CREATE INDEX group_code_groups_by_group ON group_code_groups (group_id);

-- The join way's `state` a member joined with (groupchat/get), so joins
-- are attributed to the code and WeCom's new rooms are recognised.
ALTER TABLE group_members ADD COLUMN state TEXT NOT NULL DEFAULT '';
