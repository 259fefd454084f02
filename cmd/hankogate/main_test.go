package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hankogate/hankogate/internal/gatewaytest"
)

// These tests run the hankogate binary itself, as a user would: a real process with its own
// storage, signals and restarts. TestMain builds it once.

// binary is the hankogate binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hankogate-cmd-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmd/hankogate tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "hankogate")
	if err := gatewaytest.Build(binary); err != nil {
		fmt.Fprintf(os.Stderr, "cmd/hankogate tests: %v\n", err)
		return 1
	}
	return m.Run()
}

// startGateway runs the binary with the Caddyfile config in h until the test ends.
func startGateway(t *testing.T, h *gatewaytest.Home, name, config string) *gatewaytest.Process {
	t.Helper()
	return gatewaytest.Start(t, binary, h, name, config)
}
