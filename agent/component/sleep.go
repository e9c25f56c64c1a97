package component

import (
	"context"
	"time"
)

// Sleep waits d, or less when ctx ends first: then it reports false.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
