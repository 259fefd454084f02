package engine

import "sync"

// flowLocks fail fast: a second request on a flow that is being stepped is refused
// instead of queued.
type flowLocks struct {
	mu   sync.Mutex
	busy map[string]struct{}
}

func (l *flowLocks) tryLock(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.busy[id]; ok {
		return false
	}
	if l.busy == nil {
		l.busy = map[string]struct{}{}
	}
	l.busy[id] = struct{}{}
	return true
}

func (l *flowLocks) unlock(id string) {
	l.mu.Lock()
	delete(l.busy, id)
	l.mu.Unlock()
}
