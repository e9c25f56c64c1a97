package connectors

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/cases")

// goldenCase is one file of testdata/cases: a chain, input events and the
// expected events, webhooks and dead letters. An expected uuid of "*"
// matches any uuid and timestamp (events made by posthog.capture).
type goldenCase struct {
	About       string              `json:"about"`
	OnError     string              `json:"on_error,omitempty"`
	Chain       []ChainEntry        `json:"chain"`
	Input       []json.RawMessage   `json:"input"`
	Output      []json.RawMessage   `json:"output"`
	Webhooks    []component.Webhook `json:"webhooks"`
	DeadLetters []string            `json:"dead_letters"`
}

func TestGoldenCases(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var gc goldenCase
			if err := json.Unmarshal(raw, &gc); err != nil {
				t.Fatal(err)
			}
			chain := make([]ChainEntry, len(gc.Chain))
			for i, c := range gc.Chain {
				c.Path = filepath.Join("testdata", c.Path)
				chain[i] = c
			}
			tr := newTestTransform(t, testOpts{onError: gc.OnError}, chain...)
			var in []*event.Event
			for _, r := range gc.Input {
				ev := &event.Event{}
				if err := ev.UnmarshalJSON(r); err != nil {
					t.Fatalf("input %s: %v", r, err)
				}
				in = append(in, ev)
			}
			out := applyAll(t, tr, in...)
			var got []json.RawMessage
			for _, ev := range out.Events {
				got = append(got, ev.AppendJSON(nil))
			}
			var dls []string
			for _, d := range out.DeadLetters {
				dls = append(dls, d.Reason+" | "+string(d.Record))
			}
			if *update {
				gc.Output, gc.Webhooks, gc.DeadLetters = got, out.Webhooks, dls
				for i, ev := range out.Events {
					if ev.Event == "derived_event" || ev.Event == "heartbeat" {
						ev.UUID, ev.Timestamp = "*", "*"
						gc.Output[i] = ev.AppendJSON(nil)
					}
				}
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(gc); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if len(got) != len(gc.Output) {
				t.Fatalf("%s\ngot %d events, want %d:\n%s", gc.About, len(got), len(gc.Output), joinRaw(got))
			}
			for i := range got {
				want := &event.Event{}
				if err := want.UnmarshalJSON(gc.Output[i]); err != nil {
					t.Fatal(err)
				}
				if want.UUID == "*" {
					out.Events[i].UUID, out.Events[i].Timestamp = "*", "*"
					got[i] = out.Events[i].AppendJSON(nil)
				}
				if w := want.AppendJSON(nil); !bytes.Equal(got[i], w) {
					t.Errorf("%s\nevent %d:\n got %s\nwant %s", gc.About, i, got[i], w)
				}
			}
			gw, _ := json.Marshal(out.Webhooks)
			ww, _ := json.Marshal(gc.Webhooks)
			if !bytes.Equal(gw, ww) && !(len(out.Webhooks) == 0 && len(gc.Webhooks) == 0) {
				t.Errorf("%s\nwebhooks:\n got %s\nwant %s", gc.About, gw, ww)
			}
			if strings.Join(dls, "\n") != strings.Join(gc.DeadLetters, "\n") {
				t.Errorf("%s\ndead letters:\n got %q\nwant %q", gc.About, dls, gc.DeadLetters)
			}
		})
	}
}

func joinRaw(rs []json.RawMessage) string {
	var b strings.Builder
	for _, r := range rs {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.String()
}
