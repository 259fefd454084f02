package signing

import (
	"context"
	"time"
)

// WatchInterval is how often the loaded keys are compared with the database, so that a
// key rotated or removed by another process (the keys command, another server) signs or
// stops verifying here within a minute rather than at the next hourly maintenance. (A
// variable for tests that need a server which has not reloaded.)
var WatchInterval = time.Minute

// Watch reloads the keys when the database holds another set than the one loaded (one
// small query when nothing changed).
func (r *Ring) Watch(ctx context.Context) error {
	kids, err := r.store.Read().SigningKeyIDs(ctx)
	if err != nil {
		return err
	}
	if sameKIDs(r.Published(), kids) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rows, err := r.store.Read().SigningKeys(ctx)
	if err != nil {
		return err
	}
	return r.install(rows)
}

func sameKIDs(keys []Key, kids []string) bool {
	if len(keys) != len(kids) {
		return false
	}
	for i, k := range keys {
		if k.KID != kids[i] {
			return false
		}
	}
	return true
}
