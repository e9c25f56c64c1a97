package component_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
)

type testConfig struct {
	component.DeliveryConfig
	fail bool
}

func (*testConfig) Validate() error { return nil }

type otherConfig struct{ component.DeliveryConfig }

func (*otherConfig) Validate() error { return nil }

type testSink struct{ cfg *testConfig }

func (*testSink) Deliver(context.Context, component.Batch) error { return nil }

type testSource struct{}

func (*testSource) Run(context.Context, component.Emitter) error { return nil }

var errCreate = errors.New("create failed")

// The factories take constructors that return concrete types; a failed
// constructor must give a nil interface, not one holding a nil pointer,
// or the agent would start a component that does not exist.
func TestFactoriesTakeConcreteConstructors(t *testing.T) {
	newSink := func(c *testConfig, _ component.Settings) (*testSink, error) {
		if c.fail {
			return nil, errCreate
		}
		return &testSink{cfg: c}, nil
	}
	newSource := func(c *testConfig, _ component.Settings) (*testSource, error) {
		if c.fail {
			return nil, errCreate
		}
		return &testSource{}, nil
	}
	defaults := func() *testConfig { return &testConfig{DeliveryConfig: component.DefaultDelivery()} }
	sinks := component.NewSinkFactory("test", component.KindEvents, "", defaults, newSink)
	sources := component.NewSourceFactory("test", "", defaults, newSource)

	for _, tc := range []struct {
		name    string
		cfg     component.Config
		wantErr string
	}{
		{name: "ok", cfg: &testConfig{}},
		{name: "create fails", cfg: &testConfig{fail: true}, wantErr: "create failed"},
		{name: "wrong config type", cfg: &otherConfig{}, wantErr: "test: config has type *component_test.otherConfig, want *component_test.testConfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, err := sinks.CreateSink(tc.cfg, component.Settings{})
			src, serr := sources.CreateSource(tc.cfg, component.Settings{})
			for _, e := range []error{err, serr} {
				if tc.wantErr == "" && e != nil {
					t.Fatalf("unexpected error: %v", e)
				}
				if tc.wantErr != "" && (e == nil || !strings.Contains(e.Error(), tc.wantErr)) {
					t.Fatalf("error = %v, want %q", e, tc.wantErr)
				}
			}
			if tc.wantErr != "" {
				if sink != nil || src != nil {
					t.Fatalf("failed create returned non-nil interfaces: sink %#v, source %#v", sink, src)
				}
				return
			}
			if s, ok := sink.(*testSink); !ok || s.cfg != tc.cfg {
				t.Fatalf("sink = %#v, want the *testSink built from the config", sink)
			}
			if _, ok := src.(*testSource); !ok {
				t.Fatalf("source = %#v, want *testSource", src)
			}
		})
	}
}
