package flowserver

import (
	"context"
	"time"
)

// keyWatchInterval is how often the loaded keys are compared with the database, so that a
// key rotated or removed by another process (the keys command, another server) signs or
// stops verifying here within a minute rather than at the next hourly maintenance. (A
// variable for tests that need a server which has not reloaded.)
var keyWatchInterval = time.Minute

// watchKeys reloads the keys when the database holds another set than the one loaded (one
// small query when nothing changed).
func (s *Server) watchKeys(ctx context.Context) error {
	kids, err := s.store.Read().SigningKeyIDs(ctx)
	if err != nil {
		return err
	}
	if sameKIDs(s.published(), kids) {
		return nil
	}
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	rows, err := s.store.Read().SigningKeys(ctx)
	if err != nil {
		return err
	}
	return s.installKeys(rows)
}

func sameKIDs(keys []signingKey, kids []string) bool {
	if len(keys) != len(kids) {
		return false
	}
	for i, k := range keys {
		if k.kid != kids[i] {
			return false
		}
	}
	return true
}
