-- The relay sweeps rotated-out signing secrets once they expire (and republishes their extension's list).
CREATE INDEX signing_secrets_expiry ON signing_secrets (expires_at) WHERE expires_at IS NOT NULL;
