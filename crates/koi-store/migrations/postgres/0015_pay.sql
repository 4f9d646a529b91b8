-- WeChat Pay (微信支付) for rewards: per corp, the merchant account koi pays
-- red packets from. `api_key` (the merchant's v2 API key, signs `sign`) and
-- `workwx_secret` (the WeCom 企业支付 app's secret, signs `workwx_sign`)
-- are sealed under the master key like the corp's WeCom secrets, bound to
-- the corp and the column; '' is "not set". `base_url` '' is WeChat Pay
-- itself; the simulator's is http://SIM/pay. `act_name` and `wishing` are
-- the defaults a red packet takes when its campaign gives none.
CREATE TABLE pay_settings (
    corp_id BIGINT PRIMARY KEY REFERENCES corps(id),
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    mch_id TEXT NOT NULL DEFAULT '',
    wxappid TEXT NOT NULL DEFAULT '',
    api_key TEXT NOT NULL DEFAULT '',
    workwx_secret TEXT NOT NULL DEFAULT '',
    base_url TEXT NOT NULL DEFAULT '',
    act_name TEXT NOT NULL DEFAULT '',
    wishing TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL DEFAULT 0
);
