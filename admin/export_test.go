package admin

import "time"

// SetProviderTimings shortens the provider's timeouts and pauses for a
// test and returns what puts them back.
func SetProviderTimings(timeout, first, most, wait time.Duration) (restore func()) {
	t, f, m, w := providerTimeout, firstRetry, maxRetry, firstWait
	providerTimeout, firstRetry, maxRetry, firstWait = timeout, first, most, wait
	return func() { providerTimeout, firstRetry, maxRetry, firstWait = t, f, m, w }
}
