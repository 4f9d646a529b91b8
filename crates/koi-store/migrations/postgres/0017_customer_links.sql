-- A customer's own link to koi's H5 pages (wallet, checkout, earnings):
-- an unguessable token their guide or a campaign page hands them, so a page
-- knows whose it is without WeChat sign-in. One live token a customer;
-- revoking it (a forwarded link) gives the customer a new one.
CREATE TABLE customer_links (
    token TEXT PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX customer_links_live ON customer_links (corp_id, customer_id) WHERE revoked_at IS NULL;
