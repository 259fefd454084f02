// Package e2e holds the end-to-end tests: the real hankogate binary with its embedded
// backend, a real upstream and a test SMTP server, driven by headless Chromium through the
// DevTools protocol (chromedp), plus HTTP-level tests of third-party sign-in against a
// Hanko-like test backend. Everything lives in _test.go files; this file only names the
// package.
package e2e
