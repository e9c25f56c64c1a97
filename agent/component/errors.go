package component

import (
	"errors"
	"fmt"
	"time"
)

// DeliveryError classifies a sink's failure for the agent's delivery loop.
type DeliveryError struct {
	Err error
	// Permanent errors are not retried: the records go to dead letters
	// (after the batch is split to isolate the bad ones).
	Permanent bool
	// TooLarge means the receiver refused the batch for its size (413): the
	// agent splits it in halves down to one record.
	TooLarge bool
	// Paused means retrying cannot help until an operator acts (401/403):
	// the sink pauses with a loud error and keeps its queue.
	Paused bool
	// RetryAfter is the receiver's requested wait (Retry-After), or 0.
	RetryAfter time.Duration
	// Delivered is how many leading records of the batch the receiver
	// accepted before the failure (a sink sending records one by one, like
	// webhooks); the agent does not send them again.
	Delivered int
	// Rejected, with Permanent, is how many records (after the Delivered
	// ones) the failure concerns as a whole: the agent dead-letters
	// exactly those, without splitting them, and delivers the rest. 0
	// means unknown: the agent splits the batch to isolate the bad ones.
	Rejected int
}

func (e *DeliveryError) Error() string {
	switch {
	case e.Permanent:
		return fmt.Sprintf("permanent: %v", e.Err)
	case e.TooLarge:
		return fmt.Sprintf("too large: %v", e.Err)
	case e.Paused:
		return fmt.Sprintf("paused: %v", e.Err)
	case e.RetryAfter > 0:
		return fmt.Sprintf("retry after %s: %v", e.RetryAfter, e.Err)
	}
	return e.Err.Error()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Permanent marks err as not retryable.
func Permanent(err error) error { return &DeliveryError{Err: err, Permanent: true} }

// TooLarge marks err as a refusal for size.
func TooLarge(err error) error { return &DeliveryError{Err: err, TooLarge: true} }

// Paused marks err as needing an operator (bad credentials).
func Paused(err error) error { return &DeliveryError{Err: err, Paused: true} }

// RetryAfter marks err as retryable after at least d.
func RetryAfter(d time.Duration, err error) error { return &DeliveryError{Err: err, RetryAfter: d} }

// Rejected marks err as a permanent failure of exactly the first n records
// of the batch (after any Delivered ones): they go to dead letters together,
// with err as the reason, and the records after them are delivered.
func Rejected(n int, err error) error { return &DeliveryError{Err: err, Permanent: true, Rejected: n} }

// Partial reports that the first n records of the batch were accepted
// before err, keeping err's classification.
func Partial(n int, err error) error {
	de := *AsDeliveryError(err)
	de.Delivered = n
	return &de
}

// AsDeliveryError returns the classification of err; an unclassified error is
// a plain retryable one.
func AsDeliveryError(err error) *DeliveryError {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	return &DeliveryError{Err: err}
}
