-- Fission campaigns (裂变活动): participants with their personal entries,
-- the invites they brought (the invite tree), what the H5 page saw, and one
-- reward ledger for every campaign.

-- `draft` is the operator's validated campaign (JSON); the columns beside it
-- are what queries filter on. `spent_fen` is money reserved by rewards: a
-- reward reserves its cost in the transaction that creates it, only while
-- `spent_fen + cost <= budget_fen`.
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'draft',
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    draft TEXT NOT NULL,
    budget_fen BIGINT NOT NULL DEFAULT 0,
    spent_fen BIGINT NOT NULL DEFAULT 0,
    public_token TEXT NOT NULL UNIQUE,
    seeded_at BIGINT,
    cleaned_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX campaigns_by_state ON campaigns (corp_id, state);

-- Inventory per tier (tier 0: the friend's reward of a poster campaign;
-- 1..: the tiers in order). `issued` counts rewards holding a unit.
CREATE TABLE campaign_tiers (
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    tier INTEGER NOT NULL,
    inventory INTEGER,
    issued INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, tier)
);

-- A customer taking part, with their personal entry (a contact way, or a
-- group join way for group fission) and who brought them (`parent_id`, a
-- participant of the same campaign; the invite tree). `token` is the secret
-- of their H5 page's link. `valid` counts their valid invites; `notice` is
-- the message inviting them to take part ('' → sending → sent | failed).
CREATE TABLE campaign_participants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    parent_id BIGINT REFERENCES campaign_participants(id),
    depth INTEGER NOT NULL DEFAULT 0,
    staff_id BIGINT REFERENCES staff(id),
    store_id BIGINT REFERENCES stores(id),
    source TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    entry_state TEXT NOT NULL DEFAULT 'none',
    config_id TEXT,
    qr_code TEXT,
    entry_error TEXT NOT NULL DEFAULT '',
    valid INTEGER NOT NULL DEFAULT 0,
    notice TEXT NOT NULL DEFAULT '',
    joined_at BIGINT NOT NULL,
    UNIQUE (campaign_id, customer_id)
);
CREATE INDEX campaign_participants_by_parent ON campaign_participants (campaign_id, parent_id);
CREATE INDEX campaign_participants_by_entry ON campaign_participants (campaign_id, entry_state);

-- A customer (or a group member not yet a friend) who came in through a
-- participant's entry. Pending until `counts_at`, then valid or rejected
-- with a reason; `checked_at` is when the hold's checks ran (an invite of a
-- pay-before-hold campaign is valid before it is checked). `overridden_by`
-- is the console user who overrode the verdict.
CREATE TABLE campaign_invites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    inviter_id BIGINT NOT NULL REFERENCES campaign_participants(id),
    invitee_key TEXT NOT NULL,
    invitee_customer_id BIGINT REFERENCES customers(id),
    unionid TEXT NOT NULL DEFAULT '',
    via TEXT NOT NULL,
    staff_id BIGINT REFERENCES staff(id),
    group_id BIGINT REFERENCES groups(id),
    occurred_at BIGINT NOT NULL,
    counts_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    checked_at BIGINT,
    overridden_by BIGINT,
    decided_at BIGINT,
    UNIQUE (campaign_id, inviter_id, invitee_key, occurred_at)
);
CREATE INDEX campaign_invites_due ON campaign_invites (corp_id, checked_at, counts_at);
CREATE INDEX campaign_invites_by_inviter ON campaign_invites (inviter_id, occurred_at);
CREATE INDEX campaign_invites_by_invitee ON campaign_invites (campaign_id, invitee_key);
CREATE INDEX campaign_invites_by_unionid ON campaign_invites (campaign_id, unionid);

-- What a participant's H5 page saw: a device id (a cookie), the client
-- address, and a location the customer shared.
CREATE TABLE campaign_visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    participant_id BIGINT NOT NULL REFERENCES campaign_participants(id),
    device TEXT NOT NULL,
    address TEXT NOT NULL,
    lat REAL,
    lng REAL,
    at BIGINT NOT NULL
);
CREATE INDEX campaign_visits_by_participant ON campaign_visits (participant_id);
CREATE INDEX campaign_visits_by_device ON campaign_visits (campaign_id, device);
CREATE INDEX campaign_visits_by_address ON campaign_visits (campaign_id, address);

-- The reward ledger: one row per (participant, tier), whatever retries,
-- crashes or second nodes do. pending → issued (→ redeemed), or failed
-- (WeChat Pay refused; retried by hand), withheld (no budget or inventory
-- left when reached), revoked (the invites that reached it were lost before
-- the hold; gives back its budget and inventory). `billno` is WeChat Pay's
-- idempotency key of a red envelope; `code` the redemption code of a gift
-- or coupon. `notice` is the progress message to the participant
-- ('' → sending → sent | failed).
CREATE TABLE rewards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    participant_id BIGINT NOT NULL REFERENCES campaign_participants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    tier INTEGER NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    amount BIGINT NOT NULL DEFAULT 0,
    cost_fen BIGINT NOT NULL DEFAULT 0,
    code TEXT UNIQUE,
    state TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    billno TEXT NOT NULL DEFAULT '',
    pay_ref TEXT NOT NULL DEFAULT '',
    notice TEXT NOT NULL DEFAULT '',
    issued_at BIGINT,
    redeemed_at BIGINT,
    redeemed_store_id BIGINT REFERENCES stores(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (campaign_id, participant_id, tier)
);
CREATE INDEX rewards_by_state ON rewards (corp_id, campaign_id, state);
