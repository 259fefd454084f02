package lru

import (
	"fmt"
	"sync"
	"testing"
)

// A cache of 100 filled with 1,000 keys keeps exactly the 100 most recently used, and a key
// read keeps its place against newer inserts.
func TestKeepsTheMostRecentlyUsed(t *testing.T) {
	size := 0
	c := New[int](100, func(d int) { size += d })
	for i := range 1000 {
		c.GetOrAdd(key(i), i)
		if i >= 10 {
			// key 5 is read all along: it is part of the working set and must survive.
			if v, ok := c.Get(key(5)); !ok || v != 5 {
				t.Fatalf("key 5 evicted after %d inserts", i)
			}
		}
	}
	if c.Len() != 100 || size != 100 {
		t.Fatalf("Len %d, resize sum %d, want 100", c.Len(), size)
	}
	for i := 901; i < 1000; i++ {
		if v, ok := c.Get(key(i)); !ok || v != i {
			t.Errorf("recent key %d evicted", i)
		}
	}
	if _, ok := c.Get(key(900)); ok {
		t.Error("key 900 kept although 100 keys were used after it")
	}
	c.Remove(key(999))
	if _, ok := c.Get(key(999)); ok || c.Len() != 99 || size != 99 {
		t.Errorf("after Remove: Len %d, size %d", c.Len(), size)
	}
}

// GetOrAdd from many goroutines for one key stores one value, which all of them get.
func TestGetOrAddStoresOnce(t *testing.T) {
	c := New[*int](10, nil)
	var wg sync.WaitGroup
	got := make([]*int, 50)
	for i := range got {
		wg.Go(func() { v := i; got[i] = c.GetOrAdd("k", &v) })
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] {
			t.Fatal("concurrent GetOrAdd returned different values")
		}
	}
	if c.Len() != 1 {
		t.Fatalf("Len %d", c.Len())
	}
}

// A large cache is sharded, holds exactly its size and keeps most of its recent working set.
func TestShardedBound(t *testing.T) {
	c := New[int](10000, nil)
	if len(c.shards) < 2 {
		t.Fatalf("%d shards", len(c.shards))
	}
	for i := range 50000 {
		c.GetOrAdd(key(i), i)
	}
	if c.Len() != 10000 {
		t.Fatalf("Len %d", c.Len())
	}
	kept := 0
	for i := 50000 - 9000; i < 50000; i++ {
		if _, ok := c.Get(key(i)); ok {
			kept++
		}
	}
	if kept < 9000*97/100 {
		t.Errorf("only %d of the 9000 most recent keys kept", kept)
	}
}

func key(i int) string {
	return fmt.Sprintf("value-%08d-with-a-random-looking-tail-%x", i, i*2654435761)
}

func BenchmarkGet(b *testing.B) {
	c := New[int](10000, nil)
	k := key(1)
	c.GetOrAdd(k, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(k); !ok {
			b.Fatal("miss")
		}
	}
}
