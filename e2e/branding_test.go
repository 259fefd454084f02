package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// logoSVG is the demo logo of the branding test.
const logoSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">
<rect width="40" height="40" rx="8" fill="#0b7a75"/><path d="M12 28V12h4v6h8v-6h4v16h-4v-6h-8v6z" fill="#fff"/>
<text x="50" y="27" font-family="sans-serif" font-size="18" fill="#0b7a75">Example</text></svg>`

// TestBrandedSignInPage renders the sign-in page with a logo file and a brand colour in
// Chromium, checks that both took effect (the stylesheet and image load under the pages'
// Content-Security-Policy), and saves a screenshot: the README's picture is this artifact,
// written to docs/sign-in.png when HANKOGATE_UPDATE_DOCS is set.
func TestBrandedSignInPage(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.svg")
	if err := os.WriteFile(logo, []byte(logoSVG), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, gatewayOptions{Extra: fmt.Sprintf("logo %s\n\t\tbrand_color \"#0b7a75\"", logo)})
	b := newBrowser(t, gw, true)
	b.open("/.hanko/login")
	b.waitState("login_init")
	if !b.eval(`document.querySelector("img.logo").complete && document.querySelector("img.logo").naturalWidth > 0`) {
		t.Error("the logo did not load")
	}
	if !b.eval(`getComputedStyle(document.querySelector('form[data-action="continue_with_login_identifier"] button')).backgroundColor === "rgb(11, 122, 117)"`) {
		t.Error("the brand colour is not applied to the main button")
	}

	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "sign-in.png", png)
	if os.Getenv("HANKOGATE_UPDATE_DOCS") != "" {
		if err := os.WriteFile(filepath.Join("..", "docs", "sign-in.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
