package session

import (
	"sync"
	"time"
)

// Denylist remembers revoked session ids until their expiry, so that a logged-out cookie
// replayed to this instance is refused at once. It is bounded, and every insert costs O(1):
// ids queue in the order they were revoked (with Hanko's fixed session lifetime, the order
// in which they expire); each insert drops a few expired ids from the front, and when the
// list is full the id revoked longest ago (the one expiring soonest) makes room.
type Denylist struct {
	max int
	mu  sync.RWMutex
	ids map[string]int64 // session id -> unix expiry
	// queue is a ring of the ids in ids, oldest at head; it grows up to max.
	queue []string
	head  int
	n     int
}

// expiredPerAdd bounds the expired ids an insert drops: enough to keep ahead of inserts,
// few enough that no insert ever walks the list.
const expiredPerAdd = 2

// NewDenylist returns a denylist holding at most max ids.
func NewDenylist(max int) *Denylist {
	return &Denylist{max: max, ids: make(map[string]int64)}
}

// Add denylists id until expires (unix seconds).
func (d *Denylist) Add(id string, expires int64, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.ids[id]; ok {
		d.ids[id] = max(old, expires)
		return
	}
	for range expiredPerAdd {
		if d.n == 0 || d.ids[d.queue[d.head]] > now.Unix() {
			break
		}
		d.pop()
	}
	if d.n >= d.max {
		d.pop()
	}
	d.push(id)
	d.ids[id] = expires
}

// pop drops the oldest id.
func (d *Denylist) pop() {
	id := d.queue[d.head]
	d.queue[d.head] = ""
	d.head = (d.head + 1) % len(d.queue)
	d.n--
	delete(d.ids, id)
}

// push queues id as the newest, growing the ring (doubling, up to max) when it is full; the
// copies of growing add up to less than two per insert.
func (d *Denylist) push(id string) {
	if d.n == len(d.queue) {
		grown := make([]string, min(max(2*len(d.queue), 64), max(d.max, 1)))
		for i := range d.n {
			grown[i] = d.queue[(d.head+i)%len(d.queue)]
		}
		d.queue, d.head = grown, 0
	}
	d.queue[(d.head+d.n)%len(d.queue)] = id
	d.n++
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
