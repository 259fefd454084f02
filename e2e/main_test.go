package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hankogate/hankogate/internal/gatewaytest"
)

// chromiumPath is the browser the tests drive: $HANKOGATE_CHROMIUM, else the first of
// chromiumNames on PATH (.ci/run installs Debian's or Ubuntu's Chromium when there is none).
var chromiumPath string

var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}

// gatewayBinary is the hankogate binary TestMain builds once for every test.
var gatewayBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if chromiumPath, err = findChromium(); err != nil {
		// Not a skip: these tests are the proof the browser paths work.
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
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

func findChromium() (string, error) {
	if p := os.Getenv("HANKOGATE_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("HANKOGATE_CHROMIUM: %w", err)
		}
		return p, nil
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium or Chrome on PATH (looked for %v): run `bash .ci/run`, which installs it on Debian/Ubuntu, or install one and set HANKOGATE_CHROMIUM to its binary", chromiumNames)
}
