-- Per-tenant ingest keys for the ingest endpoint (`callapi-events ingest-key create --org ID`).
-- Stored only as SHA-256; a key grants one organization and never expires (revoke it instead).
CREATE TABLE ingest_keys (
    id               bigserial PRIMARY KEY,
    organization_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_hash         bytea NOT NULL UNIQUE,
    prefix           text NOT NULL,                 -- the first characters, to recognise a key in lists
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz
);
CREATE INDEX ingest_keys_organization ON ingest_keys (organization_id);
