-- The client networks (an IPv4 address or an IPv6 /64) each user has signed in from
-- recently: their attempts are not held up by the per-address caps strangers can fill.
CREATE TABLE known_clients (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client    TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (user_id, client)
);
