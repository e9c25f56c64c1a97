package component

import (
	"context"
	"time"
)

// Sleep waits d, or less when ctx ends first: then it reports false.
func Sleep(ctx context.Context, d time.Duration) bool { return SleepOrWake(ctx, d, nil) }

// SleepOrWake waits d, or less when ctx ends first (then it reports false)
// or when wake (if not nil) is closed or receives: a retry in backoff that
// wakes up as soon as the same receiver accepted another batch.
func SleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-wake:
		return true
	}
}
