-- Sign-in attempts per client address, per account and per account from
-- one address, counted in fixed windows. Shared by every node, so the
-- limit holds however requests are balanced; rows of ended windows are
-- pruned by the worker's housekeeping.
CREATE TABLE login_limits (
    key TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);

CREATE INDEX login_limits_window ON login_limits (window_start);
