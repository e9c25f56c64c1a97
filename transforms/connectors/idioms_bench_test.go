package connectors

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// idiomGroups reads testdata/idioms: connectors named GROUP-WAY that do the
// same work per event in different ways, by group.
func idiomGroups(tb testing.TB) map[string][]string {
	entries, err := os.ReadDir("testdata/idioms")
	if err != nil {
		tb.Fatal(err)
	}
	groups := map[string][]string{}
	for _, e := range entries {
		group, _, ok := strings.Cut(e.Name(), "-")
		if !ok || !e.IsDir() {
			tb.Fatalf("testdata/idioms/%s: want a folder named GROUP-WAY", e.Name())
		}
		groups[group] = append(groups[group], e.Name())
	}
	return groups
}

// runIdiom runs evs through the connector testdata/idioms/name on one lane
// and returns the output events as JSON lines.
func runIdiom(tb testing.TB, tr *Transform, evs []*event.Event) []byte {
	out := component.Output{Events: make([]*event.Event, 0, len(evs))}
	if err := tr.Apply(context.Background(), component.Input{Source: "bench", Events: evs}, &out); err != nil {
		tb.Fatal(err)
	}
	var b []byte
	for _, e := range out.Events {
		b = append(e.AppendJSON(b), '\n')
	}
	return b
}

// TestIdiomsDoTheSameWork: the ways of one group of testdata/idioms give
// the same events, so BenchmarkIdioms compares equal work.
func TestIdiomsDoTheSameWork(t *testing.T) {
	src := realWorldEvents(t, 50)
	for group, names := range idiomGroups(t) {
		var first []byte
		for _, name := range names {
			tr := newTestTransform(t, testOpts{}, ChainEntry{Path: filepath.Join("testdata/idioms", name)})
			evs := make([]*event.Event, len(src))
			for i, e := range src {
				evs[i] = e.Clone()
			}
			got := runIdiom(t, tr, evs)
			if first == nil {
				first = got
				continue
			}
			if !bytes.Equal(got, first) {
				t.Errorf("%s: %s and %s differ:\n%s\n%s", group, names[0], name, firstLine(string(first)), firstLine(string(got)))
			}
		}
	}
}

// BenchmarkIdioms measures the ways of writing each step of
// testdata/idioms on the benchmark's real-world events, one lane, in the
// same run; the connectors README's advice comes from it.
//
//	go test -run XXX -bench Idioms -count 3 ./transforms/connectors/
func BenchmarkIdioms(b *testing.B) {
	const batch = 500
	for group, names := range idiomGroups(b) {
		for _, name := range names {
			b.Run(group+"/"+strings.TrimPrefix(name, group+"-"), func(b *testing.B) {
				tr := startBenchChain(b, 1, nil, ChainEntry{Path: filepath.Join("testdata/idioms", name)})
				src := realWorldEvents(b, batch)
				evs := make([]*event.Event, batch)
				b.ReportAllocs()
				b.ResetTimer()
				processed := 0
				for ; processed < b.N; processed += batch {
					b.StopTimer()
					for i, e := range src {
						evs[i] = e.Clone()
					}
					b.StartTimer()
					runIdiom(b, tr, evs)
				}
				b.ReportMetric(float64(processed)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
