-- Tenancy, credentials, notification requests, the outbox and the delivery log.

-- A service provider owns organizations; an organization (tenant, code such as '0003') owns extensions.
CREATE TABLE accounts (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('provider', 'organization')),
    parent_id   bigint REFERENCES accounts (id) ON DELETE CASCADE,
    code        text,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'provider' AND parent_id IS NULL AND code IS NULL)
        OR (kind = 'organization' AND parent_id IS NOT NULL AND code ~ '^[0-9]{1,10}$'))
);
CREATE UNIQUE INDEX accounts_organization_code ON accounts (code) WHERE kind = 'organization';

CREATE TABLE extensions (
    id               bigserial PRIMARY KEY,
    organization_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    number           text NOT NULL UNIQUE,          -- canonical form, e.g. '0003*210'
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX extensions_organization ON extensions (organization_id);

-- OAuth 2.0 client credentials; the secret is kept only as a strong hash (argon2id).
CREATE TABLE api_clients (
    id           bigserial PRIMARY KEY,
    client_id    text NOT NULL UNIQUE,
    secret_hash  text NOT NULL,
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- Bearer tokens, stored as SHA-256 of the token.
CREATE TABLE access_tokens (
    token_hash     bytea PRIMARY KEY,
    api_client_id  bigint NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

-- The requests an extension configured (CallAPI Events).
CREATE TABLE event_requests (
    extension_id     bigint NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    id               text NOT NULL CHECK (id ~ '^[A-Za-z0-9]{1,255}$'),   -- the Request ID
    type             smallint NOT NULL CHECK (type BETWEEN 0 AND 4),      -- VoipNow's event numbers
    method           text NOT NULL CHECK (method IN ('GET', 'POST')),
    url              text NOT NULL CHECK (length(url) <= 2048),
    enabled          boolean NOT NULL DEFAULT true,
    note             text NOT NULL DEFAULT '' CHECK (length(note) <= 1024),
    disabled_reason  text,                                                -- e.g. 'gone' after a 410
    created_at       timestamptz NOT NULL DEFAULT now(),
    modified         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (extension_id, id)
);

-- Standard Webhooks secrets (whsec_…). A rotated-out secret stays valid until expires_at.
CREATE TABLE signing_secrets (
    id            bigserial PRIMARY KEY,
    extension_id  bigint NOT NULL,
    request_id    text NOT NULL,
    secret        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    FOREIGN KEY (extension_id, request_id) REFERENCES event_requests (extension_id, id) ON DELETE CASCADE
);
CREATE INDEX signing_secrets_request ON signing_secrets (extension_id, request_id);

-- Transactional outbox: a row per committed change of an extension's requests. The relay publishes the
-- extension's full current list to `event-requests` and sets sent_at.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    extension   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('callapi_outbox', NEW.extension);
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_notify();

-- The delivery log: one row per HTTP attempt, from `delivery-attempts`; partitioned by day so retention
-- drops whole partitions. The sink creates each day's partition before writing to it.
CREATE TABLE delivery_log (
    job_id        text NOT NULL,
    attempt       integer NOT NULL,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    tenant        text NOT NULL,
    extension     text NOT NULL,
    request_id    text NOT NULL,
    outcome       text NOT NULL,
    status_code   integer,
    error         text,
    duration_ms   real NOT NULL,
    attempted_at  timestamptz NOT NULL,
    PRIMARY KEY (job_id, attempt, attempted_at)
) PARTITION BY RANGE (attempted_at);
CREATE INDEX delivery_log_request ON delivery_log (extension, request_id, attempted_at DESC);
