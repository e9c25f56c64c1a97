package componenttest

import (
	"testing"
	"time"
)

// Eventually polls cond every 5 ms until it holds, failing the test after
// 10 s with what it was waiting for.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
