// Package e2e holds Liveflux's end-to-end tests: they drive the example
// programs and small in-process servers with a headless Chromium, through the
// Chrome DevTools Protocol (chromedp). The package has no non-test code; see
// README.md for how to run the tests and what they check.
package e2e
