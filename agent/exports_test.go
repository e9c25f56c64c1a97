package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/sources/demo"
)

// exporting is a transform with an export sink of its own: each event
// becomes an export record (its seq). The sink fails now and then with a
// retryable error after accepting part of a batch, and rejects every seq
// ending in 3, as the connectors' export sink does for a plain Error.
type exporting struct{ sink *recordingExportSink }

type exportingConfig struct{}

func (*exportingConfig) Validate() error { return nil }

func (x exporting) Apply(_ context.Context, in component.Input, out *component.Output) error {
	for _, e := range in.Events {
		seq, _ := e.Properties.Get("seq")
		out.Events = append(out.Events, e)
		out.Exports = append(out.Exports, []byte(fmt.Sprint(seq)))
	}
	return nil
}

func (x exporting) ExportSink() (component.Sink, component.DeliveryConfig, bool, error) {
	d := component.DefaultDelivery()
	d.Concurrency = 1
	d.BatchMaxEvents = 7
	d.Retry.InitialInterval = component.Duration(time.Millisecond)
	d.Retry.MaxInterval = component.Duration(5 * time.Millisecond)
	return x.sink, d, true, nil
}

type recordingExportSink struct {
	mu        sync.Mutex
	calls     int
	delivered []int
	// rejections counts how often each rejected seq was refused: once,
	// unless the agent splits the batch to find it again.
	rejections map[int]int
}

func (s *recordingExportSink) Deliver(_ context.Context, b component.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	for i, r := range b.Records {
		seq, err := strconv.Atoi(string(r))
		if err != nil {
			return component.Partial(i, component.Rejected(1, err))
		}
		if s.calls%4 == 0 && i == len(b.Records)/2 {
			return component.Partial(i, errors.New("RetryError: busy"))
		}
		if seq%10 == 3 {
			s.rejections[seq]++
			return component.Partial(i, component.Rejected(1, fmt.Errorf("Error: cannot export %d", seq)))
		}
		s.delivered = append(s.delivered, seq)
	}
	return nil
}

// TestTransformExportSink: the agent stores a transform's export records
// in its "NAME.exports" queue and delivers them with its delivery loop:
// retryable failures resend only what was not accepted, in order; a
// rejected record goes to dead letters alone, under the export sink's
// name, and the records after it are delivered.
func TestTransformExportSink(t *testing.T) {
	sink := &recordingExportSink{rejections: map[int]int{}}
	reg := component.NewRegistry().
		AddSource(demo.NewFactory()).
		AddTransform(component.NewTransformFactory("exporting", "",
			func() *exportingConfig { return &exportingConfig{} },
			func(*exportingConfig, component.Settings) (component.Transform, error) { return exporting{sink}, nil }))
	dir := t.TempDir()
	text := fmt.Sprintf(`data_dir = %q
shutdown_timeout = "20s"
[api]
enabled = false
%s
[transforms.x]
type = "exporting"
inputs = ["gen"]
`, dir, demoSource(200))
	cfg, err := config.Parse(dir+"/hogtail.toml", []byte(text), reg, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("agent did not finish by itself")
	}
	sink.mu.Lock()
	delivered := sink.delivered
	sink.mu.Unlock()
	var want []int
	for i := 0; i < 200; i++ {
		if i%10 != 3 {
			want = append(want, i)
		}
	}
	if fmt.Sprint(delivered) != fmt.Sprint(want) {
		t.Errorf("delivered %v\nwant %v", delivered, want)
	}
	for seq, n := range sink.rejections {
		if n != 1 {
			t.Errorf("seq %d refused %d times: the agent split the batch instead of dead-lettering the rejected record", seq, n)
		}
	}
	dls := deadLetters(t, dir)
	if len(dls) != 20 {
		t.Fatalf("%d dead letters, want 20", len(dls))
	}
	for i, dl := range dls {
		if dl.Component != "x.exports" || string(dl.Record) != fmt.Sprint(i*10+3) || dl.Reason != fmt.Sprintf("permanent: Error: cannot export %d", i*10+3) {
			t.Errorf("dead letter %d: %s %q %s", i, dl.Component, dl.Reason, dl.Record)
		}
	}
}
