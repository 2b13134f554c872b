-- A signing secret the web UI shows once, on the page after an Add, Edit or rotation that generated it. The flash
-- cookie is signed, not encrypted, so it carries only `ref`, a random reference, and the secret waits here, where
-- every API replica finds it. Showing it (or dropping it on another page) deletes the row; an unshown one expires
-- with the cookie and is deleted by the next keep or take, the relay's periodic sweep or a sign-out.
CREATE TABLE ui_flash_secrets (
    ref         text PRIMARY KEY,
    secret      text NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX ui_flash_secrets_expires_at ON ui_flash_secrets (expires_at);
