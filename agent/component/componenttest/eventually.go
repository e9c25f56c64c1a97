package componenttest

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test with what if it
// does not within timeout. Tests use it instead of sleeping for a guessed
// time.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(wait)
	}
}
