-- Random keys the server creates once and keeps (e.g. the passcode HMAC key), so that
-- what was written with them stays readable across restarts and by every process
-- sharing the file.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
