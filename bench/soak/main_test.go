package main

import (
	"reflect"
	"testing"
)

// The goroutine dump's first record shares its block with the header, some records carry
// labels, and a record may have no named frame: every record is counted, none nameless.
func TestParseStacks(t *testing.T) {
	dump := "goroutine profile: total 7\n" +
		"4 @ 0x47a8ae 0x4750b7 0x6a2c45 0x481e81\n" +
		"#\t0x6a2c44\tnet/http.(*persistConn).writeLoop+0x184\t/usr/local/go/src/net/http/transport.go:2590\n" +
		"\n" +
		"2 @ 0x47a8ae 0x45c1d2 0x481e81\n" +
		"# labels: {\"pprof\":\"x+0x1\"}\n" +
		"#\t0x45c1d1\truntime.gcBgMarkWorker+0x111\t/usr/local/go/src/runtime/mgc.go:1363\n" +
		"#\t0x481e80\truntime.goexit+0x0\t/usr/local/go/src/runtime/asm_amd64.s:1700\n" +
		"\n" +
		"1 @ 0x47a8ae\n" +
		"\n"
	want := map[string]int{
		"net/http.(*persistConn).writeLoop":       4,
		"runtime.gcBgMarkWorker < runtime.goexit": 2,
		"(no symbols) @ 0x47a8ae":                 1,
	}
	if got := parseStacks(dump); !reflect.DeepEqual(got, want) {
		t.Errorf("parseStacks = %v, want %v", got, want)
	}
}
