-- Migration campaigns (微信群迁移): the old WeChat groups a campaign moves,
-- each with its own entry (a group join way whose `state` names the old
-- group), and one move per member who joined through an entry.

-- An old group as the operator declared it (`position` is its place in the
-- draft's list). The entry: none → queued → ready | failed; deleted after
-- the campaign.
CREATE TABLE campaign_old_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    declared_size INTEGER NOT NULL,
    entry_state TEXT NOT NULL DEFAULT 'none',
    config_id TEXT,
    qr_code TEXT,
    entry_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (campaign_id, position)
);
CREATE INDEX campaign_old_groups_by_entry ON campaign_old_groups (campaign_id, entry_state);

-- A member who joined through an old group's entry: one row per campaign
-- and member (`member_key`, the external_userid), whatever they re-join.
-- hold until `counts_at`, then moved or left. A moved member's join reward
-- is the reward ledger's row of `participant_id` (tier 0), opened once koi
-- knows them as a customer.
CREATE TABLE campaign_moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    old_group_id BIGINT NOT NULL REFERENCES campaign_old_groups(id),
    member_key TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    joined_at BIGINT NOT NULL,
    counts_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'hold',
    decided_at BIGINT,
    participant_id BIGINT REFERENCES campaign_participants(id),
    UNIQUE (campaign_id, member_key)
);
CREATE INDEX campaign_moves_due ON campaign_moves (corp_id, state, counts_at);
CREATE INDEX campaign_moves_by_member ON campaign_moves (corp_id, member_key);
CREATE INDEX campaign_moves_by_old_group ON campaign_moves (old_group_id, state);
