package stdin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
)

func TestStdin(t *testing.T) {
	cases := []struct {
		name, codec, input string
		max                int
		want               []string // JSON of properties per event
	}{
		{"text", "text", "one\ntwo\r\nthree", 100, []string{
			`{"message":"one","$host":"testhost"}`,
			`{"message":"two","$host":"testhost"}`,
			`{"message":"three","$host":"testhost"}`, // last line without newline still ships at EOF
		}},
		{"json", "json", "{\"b\":1,\"a\":\"x\"}\nnot json\n[1]\n", 100, []string{
			`{"b":1,"a":"x","$host":"testhost"}`,
			`{"message":"not json","$parse_error":"invalid JSON: invalid literal at offset 0","$host":"testhost"}`,
			`{"message":"[1]","$parse_error":"not a JSON object","$host":"testhost"}`,
		}},
		{"truncated", "text", "abcdefghij\n", 4, []string{
			`{"message":"abcd","$truncated":true,"$host":"testhost"}`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := NewFactory().NewConfig().(*Config)
			cfg.Codec, cfg.MaxLineBytes, cfg.BatchSize = c.codec, component.ByteSize(c.max), 2
			em := componenttest.NewEmitter()
			src := New(cfg, componenttest.Settings("in", t.TempDir()), strings.NewReader(c.input))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := src.Run(ctx, em); err != nil {
				t.Fatal(err)
			}
			evs := em.Events()
			if len(evs) != len(c.want) {
				t.Fatalf("got %d events, want %d", len(evs), len(c.want))
			}
			for i, e := range evs {
				if got, _ := e.Properties.MarshalJSON(); string(got) != c.want[i] {
					t.Errorf("event %d: %s, want %s", i, got, c.want[i])
				}
				if e.Event != "log" || e.DistinctID != "testhost" || e.UUID == "" {
					t.Errorf("event %d identity: %+v", i, e)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cfg := &Config{Codec: "xml"}
	err := cfg.Validate()
	for _, want := range []string{"event:", "codec:", "max_line_bytes:", "batch_size:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a %q problem", err, want)
		}
	}
}
