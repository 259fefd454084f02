-- User administration and the Hanko import/export format: usernames (Hanko's username
-- identifier, unique regardless of case), when a user last signed in, and the user handle of
-- a WebAuthn credential whose authenticator holds something other than the user id's bytes
-- (credentials imported from elsewhere; NULL for credentials created here).
ALTER TABLE users ADD COLUMN username TEXT;
CREATE UNIQUE INDEX users_username ON users (username COLLATE NOCASE);
ALTER TABLE users ADD COLUMN last_sign_in_at INTEGER;
ALTER TABLE webauthn_credentials ADD COLUMN user_handle TEXT;
