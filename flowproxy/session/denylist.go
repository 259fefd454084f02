package session

import (
	"sync"
	"time"
)

// Denylist remembers revoked session ids until their expiry, so that a logged-out cookie
// replayed to this instance is refused at once. It is bounded: when full, expired entries are
// dropped first, then the entry expiring soonest (the shortest remaining risk).
type Denylist struct {
	max int
	mu  sync.RWMutex
	ids map[string]int64 // session id -> unix expiry
}

// NewDenylist returns a denylist holding at most max ids.
func NewDenylist(max int) *Denylist {
	return &Denylist{max: max, ids: make(map[string]int64)}
}

// Add denylists id until expires (unix seconds).
func (d *Denylist) Add(id string, expires int64, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.ids[id]; !ok && len(d.ids) >= d.max {
		d.evict(now.Unix())
	}
	d.ids[id] = expires
}

func (d *Denylist) evict(now int64) {
	for id, exp := range d.ids {
		if exp <= now {
			delete(d.ids, id)
		}
	}
	for len(d.ids) >= d.max {
		var soonest string
		var min int64
		for id, exp := range d.ids {
			if soonest == "" || exp < min {
				soonest, min = id, exp
			}
		}
		delete(d.ids, soonest)
	}
}

// Has reports whether id is denylisted.
func (d *Denylist) Has(id string) bool {
	d.mu.RLock()
	_, ok := d.ids[id]
	d.mu.RUnlock()
	return ok
}

// Len is the number of ids held.
func (d *Denylist) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.ids)
}
