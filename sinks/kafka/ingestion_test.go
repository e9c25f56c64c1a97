package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/twmb/franz-go/pkg/kfake"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestPostHogIngestionGolden produces each testdata/posthog_ingestion/
// *.event.json (buffered the way the agent buffers it) with encoding =
// "posthog_ingestion" into kfake, reads it back, and compares key, headers
// and value with the .golden file next to it. A new case needs only files.
func TestPostHogIngestionGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "posthog_ingestion", "*.event.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	const topic = "events_plugin_ingestion"
	c := cluster(t, kfake.SeedTopics(1, topic))
	s := newSink(t, c, func(c *Config) {
		c.Encoding, c.Topic, c.Key, c.Token = EncodingPostHogIngestion, topic, "{token}:{distinct_id}", "phc_golden"
	})
	s.now = func() time.Time { return time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC) }
	for i, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".event.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var e event.Event
			if err := e.UnmarshalJSON(raw); err != nil {
				t.Fatal(err)
			}
			rec := e.AppendJSON(nil)
			if err := s.Deliver(context.Background(), component.Batch{Records: [][]byte{rec}}); err != nil {
				t.Fatal(err)
			}
			got := consume(t, c, i+1, 10*time.Second, topic)
			if len(got) != i+1 {
				t.Fatalf("consumed %d records", len(got))
			}
			r := got[i]
			var out bytes.Buffer
			fmt.Fprintf(&out, "key: %s\n", r.Key)
			for _, h := range r.Headers {
				fmt.Fprintf(&out, "header %s: %s\n", h.Key, h.Value)
			}
			fmt.Fprintf(&out, "value: %s\n", r.Value)

			// The value is JSON, and data is the event as buffered
			// (less a sent_at that came without a receive time).
			var msg struct {
				UUID, DistinctID, Data, Token, Event string
				Now, SentAt, Timestamp, IP           string
			}
			if err := json.Unmarshal(r.Value, &msg); err != nil {
				t.Fatalf("value is not JSON: %v", err)
			}
			var data event.Event
			if err := data.UnmarshalJSON([]byte(msg.Data)); err != nil {
				t.Fatalf("data is not an event: %v", err)
			}
			if name != "sent_at_without_now" && !bytes.Equal(data.AppendJSON(nil), rec) {
				t.Errorf("data differs from the buffered event:\n%s\n%s", msg.Data, rec)
			}
			if data.UUID != e.UUID || data.DistinctID != e.DistinctID || data.SentAt != "" && e.Now == "" {
				t.Errorf("data %+v", data)
			}

			golden := strings.TrimSuffix(in, ".event.json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("differs from %s:\n got:\n%s\nwant:\n%s", golden, out.Bytes(), want)
			}
		})
	}
}

// TestScanFields: the cheap lookup finds top-level fields only, whatever
// nests inside properties.
func TestScanFields(t *testing.T) {
	for _, tc := range []struct {
		name, rec             string
		event, distinct, team string
		err                   bool
	}{
		{"plain", `{"uuid":"u","event":"e","distinct_id":"d","properties":{}}`, "e", "d", "", false},
		{"nested_decoys", `{"properties":{"event":"no","distinct_id":["x","}"],"o":{"a":"\"}"}},"event":"yes","distinct_id":"d2","team_id":7}`, "yes", "d2", "7", false},
		{"escapes", `{"event":"a\"b\\c\u00e9","distinct_id":"x\ny"}`, "a\"b\\c\u00e9", "x\ny", "", false},
		{"trailing_backslashes", `{"event":"a\\\\","x":"\\\"}","distinct_id":"d"}`, "a\\\\", "d", "", false},
		{"spaces", "{ \"event\" : \"s\" ,\n \"distinct_id\" : null }", "s", "", "", false},
		{"not_object", `["event"]`, "", "", "", true},
		{"truncated", `{"event":"x`, "", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f fields
			err := scanFields([]byte(tc.rec), &f)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if tc.err {
				return
			}
			if string(text(f.event)) != tc.event || string(text(f.distinctID)) != tc.distinct || string(text(f.teamID)) != tc.team {
				t.Errorf("event %q distinct_id %q team_id %q", text(f.event), text(f.distinctID), text(f.teamID))
			}
		})
	}
}

// TestTemplates: parse errors and topic-safe rendering.
func TestTemplates(t *testing.T) {
	rec := []byte(`{"uuid":"u-1","event":"$page view","distinct_id":"a/b","team_id":3,"properties":{}}`)
	var f fields
	if err := scanFields(rec, &f); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tpl, topic, key, err string
	}{
		{"events.{event}", "events._page_view", "events.$page view", ""},
		{"{team_id}-{distinct_id}-{uuid}", "3-a_b-u-1", "3-a/b-u-1", ""},
		{"{token}:{distinct_id}", "phc_x:a_b", "phc_x:a/b", ""}, // literal text is checked by Validate, not rendered
		{"plain", "plain", "plain", ""},
		{"", "", "", ""},
		{"events.{name}", "", "", "unknown placeholder {name}"},
		{"events.{event", "", "", "unclosed"},
		{"events.}x", "", "", "unmatched"},
	} {
		t.Run(tc.tpl, func(t *testing.T) {
			tp, err := parseTemplate(tc.tpl)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(tp.render(nil, &f, "phc_x", true)); got != tc.topic {
				t.Errorf("topic %q, want %q", got, tc.topic)
			}
			if got := string(tp.render(nil, &f, "phc_x", false)); got != tc.key {
				t.Errorf("key %q, want %q", got, tc.key)
			}
		})
	}
}

// FuzzAppendJSONAsString: whatever the text, the result is a JSON string
// that decodes back to it (invalid UTF-8 becomes U+FFFD, as with
// encoding/json).
func FuzzAppendJSONAsString(f *testing.F) {
	for _, s := range []string{``, `{"a":"b\"c\\d"}`, "ctl\x01\n", "bad \xff utf8", "\u2028", `\\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		out := appendJSONAsString([]byte("prefix"), text)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatalf("prefix lost: %q", out)
		}
		var got string
		if err := json.Unmarshal(out[len("prefix"):], &got); err != nil {
			t.Fatalf("%q -> %q: %v", text, out, err)
		}
		want := strings.ToValidUTF8(string(text), "\uFFFD")
		if got != want && utf8.Valid(text) {
			t.Fatalf("%q decoded as %q", text, got)
		}
	})
}
