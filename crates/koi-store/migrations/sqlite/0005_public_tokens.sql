-- Public ids of channel codes: a landing page is reached by a random token,
-- not by the code's sequential id (which would let anyone walk every code).
-- Existing codes get one here; koi gives each new code its own.
-- SQLite cannot add NOT NULL to a column: koi always sets it.
ALTER TABLE channel_codes ADD COLUMN public_token TEXT;
UPDATE channel_codes SET public_token = lower(hex(randomblob(16))) WHERE public_token IS NULL;
CREATE UNIQUE INDEX channel_codes_public_token ON channel_codes (public_token);
