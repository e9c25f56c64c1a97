package connectors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// BenchmarkGeoIPExample measures events/s through the GeoIP example
// connector (examples/connectors/geoip over the fake example database)
// against the hello connector, with 1 and 2 lanes, in the same run.
//
//	go test -run '^$' -bench GeoIPExample -benchtime 20000x ./transforms/connectors/
func BenchmarkGeoIPExample(b *testing.B) {
	const batch = 1000
	ips := []string{"192.0.2.10", "198.51.100.20", "203.0.113.30", "2001:db8::40", "10.0.0.1"}
	for _, conn := range []string{"hello", "geoip"} {
		for _, lanes := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/lanes=%d", conn, lanes), func(b *testing.B) {
				tr := startBenchChain(b, lanes, func(c *Config) {
					c.GeoIPDatabase = "../../examples/geoip/fake-city.mmdb"
				}, ChainEntry{Path: examples + conn})
				evs := benchEvents(batch)
				for i, ev := range evs {
					ev.Properties = append(ev.Properties, event.Field{Key: "$ip", Value: ips[i%len(ips)]})
				}
				out := component.Output{Events: make([]*event.Event, 0, batch)}
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for n := 0; n < b.N; n += batch {
					out.Events = out.Events[:0]
					if err := tr.Apply(context.Background(), component.Input{Source: "bench", Events: evs}, &out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((b.N+batch-1)/batch*batch)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkGeoIPLocate measures one meta.geoip.locate call from JS (lookup,
// decode, JS object) against a call of a no-op host function.
//
//	go test -run '^$' -bench GeoIPLocate ./transforms/connectors/
func BenchmarkGeoIPLocate(b *testing.B) {
	tr := startBenchChain(b, 1, func(c *Config) {
		c.GeoIPDatabase = "../../examples/geoip/fake-city.mmdb"
	}, ChainEntry{Path: examples + "hello"})
	st := tr.state.Load()
	in, err := newInstance(tr, st.conns[0])
	if err != nil {
		b.Fatal(err)
	}
	_ = in.vm.Set("noop", func(goja.FunctionCall) goja.Value { return goja.Null() })
	_ = in.vm.Set("geoip", in.meta.Get("geoip"))
	for _, tc := range []struct{ name, src string }{
		{"noop", `for (let i = 0; i < 1000; i++) noop('192.0.2.10')`},
		{"locate", `for (let i = 0; i < 1000; i++) geoip.locate('192.0.2.10')`},
		{"locate+read", `for (let i = 0; i < 1000; i++) { const r = geoip.locate('192.0.2.10'); r.city.names.en; r.location.latitude }`},
	} {
		prog := goja.MustCompile(tc.name, tc.src, false)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for n := 0; n < b.N; n += 1000 {
				if _, err := in.vm.RunProgram(prog); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
