-- Public ids of channel codes: a landing page is reached by a random token,
-- not by the code's sequential id (which would let anyone walk every code).
-- Existing codes get one here; koi gives each new code its own.
ALTER TABLE channel_codes ADD COLUMN public_token TEXT;
UPDATE channel_codes
    SET public_token = substr(md5(random()::text || clock_timestamp()::text || id::text), 1, 32)
    WHERE public_token IS NULL;
ALTER TABLE channel_codes ALTER COLUMN public_token SET NOT NULL;
CREATE UNIQUE INDEX channel_codes_public_token ON channel_codes (public_token);
