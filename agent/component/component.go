// Package component defines the contracts between hogtail's agent and its
// sources, transforms and sinks, and the factories that build them from TOML.
package component

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus"
)

// Settings reach a component through its constructor: everything it may need
// from the agent, so that no component touches global state.
type Settings struct {
	// Name is the component's key in the config ([sources.NAME]).
	Name string
	// Logger is tagged with the component's kind and name.
	Logger *slog.Logger
	// DataDir is the agent's data directory (holds the bbolt buffer).
	DataDir string
	// ConfigDir is the directory of the config file; relative paths in a
	// component's config are resolved against it.
	ConfigDir string
	// Hostname of the machine, for $host properties and distinct_id defaults.
	Hostname string
	// Metrics is where the component registers its own collectors. It is
	// never nil.
	Metrics prometheus.Registerer
	// Checkpoints lets a source load the checkpoints it committed through
	// Emit before a restart. Nil for transforms and sinks.
	Checkpoints CheckpointLoader
	// APIAddress is the listen address of the agent's own API ("" when it
	// is off); connectors refuse to fetch from it.
	APIAddress string
	// Store is a persistent key/value namespace for the component (connector
	// meta.storage). Nil for components that do not need one.
	Store KV
}

// Source produces events. Run blocks until ctx is cancelled (the only stop
// signal) or the source fails for good. It hands events to emit; Emit returns
// once they are durably committed.
type Source interface {
	Run(ctx context.Context, emit Emitter) error
}

// Emitter takes a source's events into the agent.
type Emitter interface {
	// Emit commits events, together with the source's checkpoints, in one
	// buffer transaction: either all of it is stored or none of it is.
	// It returns nil only after the commit. It blocks while a downstream
	// queue is full (when_full = "block") until ctx is done, and then
	// returns an error wrapping ErrFull and nothing is stored: the HTTP
	// source gives ctx a short deadline and answers 503 on ErrFull.
	// Emit is safe for concurrent use.
	Emit(ctx context.Context, events []*event.Event, checkpoints ...Checkpoint) error
}

// Pending is a batch handed over by AsyncEmitter.EmitAsync.
type Pending interface {
	// Wait returns nil once the batch is stored, or the error that kept
	// it from being stored (then none of it is). Call it once.
	Wait() error
}

// Recycler is implemented by a Pending that can tell its source whether the
// batch's events are still referenced once EmitAsync returned. Encoding for
// the buffer and taps copy what they need; a transform may keep an event
// (a connector that stores it in meta.global). The agent releases a batch
// only when every transform it reaches declares that it keeps no event
// (Capabilities).
type Recycler interface {
	// Released reports that nothing in the agent refers to the batch's
	// events any more: the source may reuse their memory for a later batch.
	Released() bool
}

// AsyncEmitter is an Emitter that lets a source prepare its next batch
// while the previous one is being written. The agent's emitter implements
// it; a source uses it when the Emitter it is given does, and Emit
// otherwise.
type AsyncEmitter interface {
	Emitter
	// EmitAsync does what Emit does, but returns once the batch is queued
	// for commit: its Pending reports the outcome. Batches that one caller
	// emits one after another are stored in that order. When after (the
	// caller's previous Pending, or nil) fails, this batch is not stored
	// either, so a checkpoint never moves past events that were lost. An
	// error from EmitAsync itself means nothing was queued.
	EmitAsync(ctx context.Context, after Pending, events []*event.Event, checkpoints ...Checkpoint) (Pending, error)
}

// ErrFull reports that events were not stored because a queue is full.
var ErrFull = errors.New("buffer full")

// Checkpoint is a source's position (for example a file offset), stored under
// Key in the source's own namespace. A nil Value deletes the key.
type Checkpoint struct {
	Key   string
	Value []byte
}

// CheckpointLoader reads the checkpoints a source committed.
type CheckpointLoader interface {
	LoadCheckpoints() (map[string][]byte, error)
}

// KV is a small persistent key/value store.
type KV interface {
	Get(key string) ([]byte, bool, error)
	Set(key string, value []byte) error
	Delete(key string) error
}

// Transform changes, adds or discards events. Apply is called with the events
// of one Emit call; it appends its results to out. The output order must
// follow the input order. Apply may be called concurrently for different
// sources. An error from Apply fails the Emit (nothing is committed): use it
// only for failures of the agent, not for a bad event.
type Transform interface {
	Apply(ctx context.Context, in Input, out *Output) error
}

// Capabilities declare what a component does with the events handed to it,
// as the OpenTelemetry Collector's consumer.Capabilities do. The agent
// decides from them whether a source may reuse a batch's memory (see
// Recycler).
type Capabilities struct {
	// KeepsEvents: the component may still refer to an event, or to a
	// string or value in it, after the call that handed the event over
	// returned (it stores it, buffers it, reads it from another
	// goroutine later), or the webhooks, dead letters or exports it
	// outputs refer to their memory. The events it outputs are not
	// counted: the transforms that receive them declare for themselves.
	KeepsEvents bool
}

// CapabilityDeclarer is implemented by a transform that declares its
// Capabilities. A transform that does not is taken to keep events, so a
// batch that reaches it is never reused.
type CapabilityDeclarer interface {
	Capabilities() Capabilities
}

// Input is a batch of events for a transform.
type Input struct {
	// Source is the name of the source that emitted the events.
	Source string
	Events []*event.Event
}

// Output is what a transform produced from one Input. It is committed to the
// buffer in the same transaction as the source's events and checkpoints.
type Output struct {
	Events      []*event.Event
	Webhooks    []Webhook
	DeadLetters []DeadLetter
	// Exports are records for the transform's own export sink (see
	// Exporter), encoded by the transform; stored in that sink's queue in
	// the same transaction as the rest.
	Exports [][]byte
}

// Exporter is implemented by a transform that delivers part of its output
// itself, through a sink of its own: the connectors transform runs its
// connectors' onEvent and exportEvents that way. The agent reads that
// sink's queue, named "TRANSFORM.exports", with its usual delivery loop
// (retry, backoff, dead letters, metrics).
type Exporter interface {
	// ExportSink returns the sink that delivers Output.Exports and its
	// delivery options; ok is false when the transform has nothing to
	// export. It may load the transform's code to find out.
	ExportSink() (sink Sink, d DeliveryConfig, ok bool, err error)
}

// Webhook is a request composed by a connector's composeWebhook, delivered by
// a webhook sink.
type Webhook struct {
	// Connector names the connector that composed it ("transform/connector").
	Connector string            `json:"connector"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      string            `json:"body"`
}

// DeadLetter is a record that could not be processed or delivered.
type DeadLetter struct {
	// Component that gave up on the record.
	Component string `json:"component"`
	// Reason is a human readable cause.
	Reason string `json:"reason"`
	// Record is the JSON of the event (or webhook) concerned.
	Record []byte `json:"record"`
}

// Sink delivers batches of records to a receiver. Deliver returns nil only
// after the receiver accepted the whole batch. Its errors are classified with
// Permanent, RetryAfter, TooLarge and Paused; any other error is retried.
// Backoff, splitting and dead letters are done by the agent, not by sinks.
// Deliver may be called concurrently (see DeliveryConfig.Concurrency).
type Sink interface {
	Deliver(ctx context.Context, batch Batch) error
}

// Batch is a run of records read from a sink's queue. For event sinks each
// record is the JSON of one event (event.AppendJSON); for webhook sinks the
// JSON of one Webhook.
type Batch struct {
	Records [][]byte
}

// Bytes returns the total size of the records.
func (b Batch) Bytes() int {
	n := 0
	for _, r := range b.Records {
		n += len(r)
	}
	return n
}

// Kind tells what a sink consumes.
type Kind int

const (
	// KindEvents sinks consume events.
	KindEvents Kind = iota
	// KindWebhooks sinks consume webhook requests composed by connectors.
	KindWebhooks
)

// Lifecycle is implemented by components that need to start background work
// or release resources. Start is called before any data flows; Shutdown after
// the component's last use.
type Lifecycle interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}
