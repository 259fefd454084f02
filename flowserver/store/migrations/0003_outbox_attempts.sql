-- Mails are written in the step's transaction and sent after commit by a worker
-- (retries with backoff). Once sent, subject, body and code are wiped.
CREATE TABLE outbox (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    template    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    code        TEXT NOT NULL,
    language    TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_try_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER
);
CREATE INDEX outbox_pending ON outbox (next_try_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_created_at ON outbox (created_at);

-- Failed attempts per key (e-mail address or user) in fixed windows, so that guesses are
-- capped whatever IPs and flows they come from, also across restarts and processes.
CREATE TABLE attempts (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);
CREATE INDEX attempts_window_start ON attempts (window_start);

-- Idle flows that never got past their first states are deleted early (anonymous clients
-- must not fill the table).
CREATE INDEX flows_updated_at ON flows (updated_at);
