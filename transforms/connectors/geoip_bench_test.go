package connectors

import (
	"context"
	"fmt"
	"testing"
	"time"

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
