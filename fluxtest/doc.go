// Package fluxtest tests Liveflux components the way users use them,
// without a browser.
package fluxtest
