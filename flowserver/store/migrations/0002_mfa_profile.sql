-- Device trust (MFA skipped on trusted devices) and user metadata for the profile flow.
CREATE TABLE trusted_devices (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX trusted_devices_user_id ON trusted_devices (user_id);
CREATE INDEX trusted_devices_expires_at ON trusted_devices (expires_at);

CREATE TABLE user_metadata (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    unsafe      TEXT NOT NULL
);
