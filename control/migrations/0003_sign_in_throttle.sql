-- Failed sign-ins (POST /oauth/token and the web UI) counted per fixed window, shared by every API replica.
-- kind 'client': the client_id that was tried (known or not); kind 'address': the source address.
-- A failure upserts its rows; an expired row restarts its window in place, and a successful sign-in
-- deletes the expired rows (and its client's row), so the table stays small.
CREATE TABLE sign_in_failures (
    kind         text NOT NULL CHECK (kind IN ('client', 'address')),
    subject      text NOT NULL,
    failures     integer NOT NULL,
    window_ends  timestamptz NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX sign_in_failures_window_ends ON sign_in_failures (window_ends);
