package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hankogate/hankogate/internal/gatewaytest"
)

// chromiumPath is Debian's Chromium, which .ci/run installs; HANKOGATE_CHROMIUM overrides it.
var chromiumPath = "/usr/bin/chromium"

// gatewayBinary is the hankogate binary TestMain builds once for every test.
var gatewayBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if p := os.Getenv("HANKOGATE_CHROMIUM"); p != "" {
		chromiumPath = p
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		// Not a skip: these tests are the proof the browser paths work.
		fmt.Fprintf(os.Stderr, "e2e: Chromium not found at %s (apt-get install chromium, or set HANKOGATE_CHROMIUM): %v\n", chromiumPath, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "hankogate-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewayBinary = filepath.Join(dir, "hankogate")
	if err := gatewaytest.Build(gatewayBinary); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	return m.Run()
}
