package store

import (
	"context"
	"fmt"
	"time"
)

// knownClientsPerUser bounds the networks remembered per user (the most recent are kept).
const knownClientsPerUser = 20

// RememberClient records that userID signed in from client (a rate-limit key: an IPv4
// address or an IPv6 /64) at now, forgetting networks not seen since before and all but
// the most recent ones.
func (q Q) RememberClient(ctx context.Context, userID, client string, now, before time.Time) error {
	if err := q.exec(ctx, "remember client", `INSERT INTO known_clients (user_id, client, last_seen) VALUES (?, ?, ?)
		ON CONFLICT (user_id, client) DO UPDATE SET last_seen = excluded.last_seen`, userID, client, micro(now)); err != nil {
		return err
	}
	return q.exec(ctx, "trim known clients", `DELETE FROM known_clients WHERE user_id = ? AND (last_seen < ? OR client NOT IN
		(SELECT client FROM known_clients WHERE user_id = ? ORDER BY last_seen DESC, client LIMIT ?))`,
		userID, micro(before), userID, knownClientsPerUser)
}

// KnownClient reports whether the user owning address (the user userID when address is
// "") signed in from client at or after since.
func (q Q) KnownClient(ctx context.Context, userID, address, client string, since time.Time) (bool, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM known_clients
		WHERE client = ? AND last_seen >= ? AND user_id = COALESCE(NULLIF(?, ''), (SELECT user_id FROM emails WHERE address = ?))`,
		client, micro(since), userID, address).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: known client: %w", err)
	}
	return n > 0, nil
}
