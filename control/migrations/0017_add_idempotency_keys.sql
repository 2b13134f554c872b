-- The Idempotency-Key of an Add: a client that retries an Add (after a timeout, a dropped connection) with the
-- same key gets the request the first one made, not a second request that would notify its URL twice. A key is
-- its extension's; the fingerprint of the Add's fields refuses a key reused for another Add. Kept 24 hours.
CREATE TABLE add_idempotency_keys (
    extension_id  bigint NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    key           text NOT NULL,
    fingerprint   text NOT NULL,
    request_id    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (extension_id, key)
);
CREATE INDEX add_idempotency_keys_created_at ON add_idempotency_keys (created_at);
