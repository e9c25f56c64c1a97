package component

import (
	"errors"
	"fmt"
	"time"
)

// DeliveryConfig holds the options every sink has: batching, concurrency,
// its disk queue and its retry policy. Sink config structs embed it, so the
// keys sit at the top level of the sink's table.
type DeliveryConfig struct {
	// BatchMaxEvents caps the records in one Deliver call.
	BatchMaxEvents int `toml:"batch_max_events"`
	// BatchMaxBytes caps the summed record sizes of one Deliver call.
	BatchMaxBytes ByteSize `toml:"batch_max_bytes"`
	// BatchTimeout is how long a partial batch waits for more records.
	BatchTimeout Duration `toml:"batch_timeout"`
	// Concurrency is the number of Deliver calls in flight.
	Concurrency int `toml:"concurrency"`
	// Buffer configures the sink's queue in the disk buffer.
	Buffer BufferConfig `toml:"buffer"`
	// Retry configures the backoff between failed deliveries.
	Retry RetryConfig `toml:"retry"`
}

// BufferConfig configures one queue of the disk buffer.
type BufferConfig struct {
	// MaxSize is the most bytes the queue may hold on disk.
	MaxSize ByteSize `toml:"max_size"`
	// WhenFull is "block" (push back to the sources) or "drop_newest"
	// (refuse new records for this queue and count them).
	WhenFull string `toml:"when_full"`
}

// RetryConfig configures exponential backoff with jitter.
type RetryConfig struct {
	InitialInterval Duration `toml:"initial_interval"`
	MaxInterval     Duration `toml:"max_interval"`
	// MaxElapsed bounds how long one batch is retried before it goes to
	// dead letters; 0 retries forever.
	MaxElapsed Duration `toml:"max_elapsed"`
}

// Values of BufferConfig.WhenFull.
const (
	WhenFullBlock      = "block"
	WhenFullDropNewest = "drop_newest"
)

// DefaultDelivery returns the defaults documented in each sink's sample.toml.
func DefaultDelivery() DeliveryConfig {
	return DeliveryConfig{
		BatchMaxEvents: 1000,
		BatchMaxBytes:  5 << 20,
		BatchTimeout:   Duration(time.Second),
		Concurrency:    2,
		Buffer:         BufferConfig{MaxSize: 1 << 30, WhenFull: WhenFullBlock},
		Retry: RetryConfig{
			InitialInterval: Duration(500 * time.Millisecond),
			MaxInterval:     Duration(60 * time.Second),
		},
	}
}

// Delivery lets the agent reach the embedded DeliveryConfig of any sink
// config.
func (d *DeliveryConfig) Delivery() *DeliveryConfig { return d }

// Validate checks the delivery options.
func (d *DeliveryConfig) Validate() error {
	var errs []error
	if d.BatchMaxEvents < 1 {
		errs = append(errs, fmt.Errorf("batch_max_events: must be at least 1, got %d", d.BatchMaxEvents))
	}
	if d.BatchMaxBytes < 1 {
		errs = append(errs, fmt.Errorf("batch_max_bytes: must be at least 1 byte"))
	}
	if d.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: must be at least 1, got %d", d.Concurrency))
	}
	if d.Buffer.MaxSize < 1 {
		errs = append(errs, fmt.Errorf("buffer.max_size: must be at least 1 byte"))
	}
	switch d.Buffer.WhenFull {
	case WhenFullBlock, WhenFullDropNewest:
	default:
		errs = append(errs, fmt.Errorf("buffer.when_full: must be %q or %q, got %q", WhenFullBlock, WhenFullDropNewest, d.Buffer.WhenFull))
	}
	if d.Retry.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf("retry.initial_interval: must be positive"))
	}
	if d.Retry.MaxInterval < d.Retry.InitialInterval {
		errs = append(errs, fmt.Errorf("retry.max_interval: must be at least retry.initial_interval"))
	}
	return errors.Join(errs...)
}

// DeliveryConfigurer is implemented by every sink config through the
// embedded DeliveryConfig.
type DeliveryConfigurer interface {
	Delivery() *DeliveryConfig
}
