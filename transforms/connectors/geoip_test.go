package connectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/examples/geoip"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testCities is the database of the GeoIP tests (documentation ranges).
var testCities = []geoip.City{
	{Network: "192.0.2.0/24", City: "Alpha", PostalCode: "A1", CountryCode: "FR", CountryName: "France",
		ContinentCode: "EU", ContinentName: "Europe", Latitude: 48.85, Longitude: 2.35, AccuracyRadius: 5,
		TimeZone: "Europe/Paris", Subdivisions: []geoip.Subdivision{{Code: "IDF", Name: "Île-de-France"}, {Code: "75", Name: "Paris"}}},
	{Network: "2001:db8::/32", CountryCode: "JP", CountryName: "Japan", ContinentCode: "AS", ContinentName: "Asia",
		Latitude: 35.69, Longitude: 139.69, AccuracyRadius: 500, TimeZone: "Asia/Tokyo"},
}

func writeGeoDB(t *testing.T, path string, cities []geoip.City) {
	t.Helper()
	if err := geoip.Write(path, cities); err != nil {
		t.Fatal(err)
	}
}

// geoTransform runs chain with geoip_database = db.
func geoTransform(t *testing.T, db string, o testOpts, chain ...ChainEntry) *Transform {
	t.Helper()
	prev := o.mutate
	o.mutate = func(c *Config) {
		c.GeoIPDatabase = db
		if prev != nil {
			prev(c)
		}
	}
	return newTestTransform(t, o, chain...)
}

func TestGeoIPLocateShape(t *testing.T) {
	db := filepath.Join(t.TempDir(), "city.mmdb")
	writeGeoDB(t, db, testCities)
	dir := t.TempDir()
	writePlugin(t, dir, `function processEvent(event, { geoip }) {
    event.properties.geo = JSON.stringify(geoip.locate(event.properties.addr))
    return event
}`)
	tr := geoTransform(t, db, testOpts{}, ChainEntry{Path: dir})
	cases := []struct {
		addr string
		want string
	}{
		{"192.0.2.7", `{"continent":{"code":"EU","names":{"en":"Europe"}},"country":{"isoCode":"FR","names":{"en":"France"}},"registeredCountry":{"isoCode":"FR","names":{"en":"France"},"isInEuropeanUnion":false},"traits":{"isAnonymous":false,"isAnonymousProxy":false,"isAnonymousVpn":false,"isHostingProvider":false,"isLegitimateProxy":false,"isPublicProxy":false,"isResidentialProxy":false,"isSatelliteProvider":false,"isTorExitNode":false,"ipAddress":"192.0.2.7","network":"192.0.2.0/24"},"city":{"names":{"en":"Alpha"}},"location":{"accuracyRadius":5,"latitude":48.85,"longitude":2.35,"timeZone":"Europe/Paris"},"postal":{"code":"A1"},"subdivisions":[{"isoCode":"IDF","names":{"en":"Île-de-France"}},{"isoCode":"75","names":{"en":"Paris"}}]}`},
		// No city, postal or subdivisions: {} and [] as geoip2-node gives.
		{"2001:db8::1", `{"continent":{"code":"AS","names":{"en":"Asia"}},"country":{"isoCode":"JP","names":{"en":"Japan"}},"registeredCountry":{"isoCode":"JP","names":{"en":"Japan"},"isInEuropeanUnion":false},"traits":{"isAnonymous":false,"isAnonymousProxy":false,"isAnonymousVpn":false,"isHostingProvider":false,"isLegitimateProxy":false,"isPublicProxy":false,"isResidentialProxy":false,"isSatelliteProvider":false,"isTorExitNode":false,"ipAddress":"2001:db8::1","network":"2001:db8::/32"},"city":{},"location":{"accuracyRadius":500,"latitude":35.69,"longitude":139.69,"timeZone":"Asia/Tokyo"},"postal":{},"subdivisions":[]}`},
		{"10.1.2.3", "null"},         // private
		{"127.0.0.1", "null"},        // loopback
		{"198.51.100.1", "null"},     // not in this database
		{"not an ip", "null"},        // geoip2-node throws; PostHog returns null
		{"::ffff:192.0.2.7", "city"}, // IPv4-mapped IPv6 finds the IPv4 network
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"addr":"`+tc.addr+`"}}`))
			got, _ := out.Events[0].Properties.Get("geo")
			s, _ := got.(string)
			if tc.want == "city" {
				if !strings.Contains(s, `"city":{"names":{"en":"Alpha"}}`) {
					t.Errorf("got %s", s)
				}
				return
			}
			if s != tc.want {
				t.Errorf("got  %s\nwant %s", s, tc.want)
			}
		})
	}
}

func TestGeoIPExample(t *testing.T) {
	db := filepath.Join(t.TempDir(), "city.mmdb")
	writeGeoDB(t, db, testCities)
	tr := geoTransform(t, db, testOpts{}, ChainEntry{Path: examples + "geoip"})
	in := []string{
		// properties.$ip wins over ip
		`{"uuid":"u1","event":"$pageview","distinct_id":"ada","timestamp":"2024-03-01T00:00:00.000Z","properties":{"$ip":"192.0.2.10"},"ip":"2001:db8::5"}`,
		// same person, same ip: event properties only, person untouched
		`{"uuid":"u2","event":"$pageview","distinct_id":"ada","timestamp":"2024-03-01T00:00:01.000Z","properties":{"$ip":"192.0.2.10"}}`,
		// top-level ip, a location without city/postal/subdivisions; an existing $set key is kept
		`{"uuid":"u3","event":"signup","distinct_id":"bob","timestamp":"2024-03-01T00:00:00.000Z","properties":{},"$set":{"email":"b@example.com"},"ip":"2001:db8::5"}`,
		// private address: nothing added
		`{"uuid":"u4","event":"e","distinct_id":"carl","properties":{"$ip":"192.168.1.20"}}`,
		// $geoip_disable honoured
		`{"uuid":"u5","event":"e","distinct_id":"dan","properties":{"$ip":"192.0.2.10","$geoip_disable":true}}`,
		// no ip at all
		`{"uuid":"u6","event":"e","distinct_id":"eve","properties":{"x":1}}`,
	}
	want := []string{
		`{"uuid":"u1","event":"$pageview","distinct_id":"ada","timestamp":"2024-03-01T00:00:00.000Z","properties":{"$ip":"192.0.2.10","$geoip_city_name":"Alpha","$geoip_country_name":"France","$geoip_country_code":"FR","$geoip_continent_name":"Europe","$geoip_continent_code":"EU","$geoip_postal_code":"A1","$geoip_latitude":48.85,"$geoip_longitude":2.35,"$geoip_time_zone":"Europe/Paris","$geoip_subdivision_1_code":"IDF","$geoip_subdivision_1_name":"Île-de-France","$geoip_subdivision_2_code":"75","$geoip_subdivision_2_name":"Paris"},"$set":{"$geoip_city_name":"Alpha","$geoip_country_name":"France","$geoip_country_code":"FR","$geoip_continent_name":"Europe","$geoip_continent_code":"EU","$geoip_postal_code":"A1","$geoip_latitude":48.85,"$geoip_longitude":2.35,"$geoip_time_zone":"Europe/Paris","$geoip_subdivision_1_code":"IDF","$geoip_subdivision_1_name":"Île-de-France","$geoip_subdivision_2_code":"75","$geoip_subdivision_2_name":"Paris"},"$set_once":{"$initial_geoip_city_name":"Alpha","$initial_geoip_country_name":"France","$initial_geoip_country_code":"FR","$initial_geoip_continent_name":"Europe","$initial_geoip_continent_code":"EU","$initial_geoip_postal_code":"A1","$initial_geoip_latitude":48.85,"$initial_geoip_longitude":2.35,"$initial_geoip_time_zone":"Europe/Paris","$initial_geoip_subdivision_1_code":"IDF","$initial_geoip_subdivision_1_name":"Île-de-France","$initial_geoip_subdivision_2_code":"75","$initial_geoip_subdivision_2_name":"Paris"},"ip":"2001:db8::5"}`,
		`{"uuid":"u2","event":"$pageview","distinct_id":"ada","timestamp":"2024-03-01T00:00:01.000Z","properties":{"$ip":"192.0.2.10","$geoip_city_name":"Alpha","$geoip_country_name":"France","$geoip_country_code":"FR","$geoip_continent_name":"Europe","$geoip_continent_code":"EU","$geoip_postal_code":"A1","$geoip_latitude":48.85,"$geoip_longitude":2.35,"$geoip_time_zone":"Europe/Paris","$geoip_subdivision_1_code":"IDF","$geoip_subdivision_1_name":"Île-de-France","$geoip_subdivision_2_code":"75","$geoip_subdivision_2_name":"Paris"}}`,
		`{"uuid":"u3","event":"signup","distinct_id":"bob","timestamp":"2024-03-01T00:00:00.000Z","properties":{"$geoip_country_name":"Japan","$geoip_country_code":"JP","$geoip_continent_name":"Asia","$geoip_continent_code":"AS","$geoip_latitude":35.69,"$geoip_longitude":139.69,"$geoip_time_zone":"Asia/Tokyo"},"$set":{"$geoip_city_name":null,"$geoip_country_name":"Japan","$geoip_country_code":"JP","$geoip_continent_name":"Asia","$geoip_continent_code":"AS","$geoip_postal_code":null,"$geoip_latitude":35.69,"$geoip_longitude":139.69,"$geoip_time_zone":"Asia/Tokyo","email":"b@example.com"},"$set_once":{"$initial_geoip_city_name":null,"$initial_geoip_country_name":"Japan","$initial_geoip_country_code":"JP","$initial_geoip_continent_name":"Asia","$initial_geoip_continent_code":"AS","$initial_geoip_postal_code":null,"$initial_geoip_latitude":35.69,"$initial_geoip_longitude":139.69,"$initial_geoip_time_zone":"Asia/Tokyo"},"ip":"2001:db8::5"}`,
		`{"uuid":"u4","event":"e","distinct_id":"carl","properties":{"$ip":"192.168.1.20"}}`,
		`{"uuid":"u5","event":"e","distinct_id":"dan","properties":{"$ip":"192.0.2.10","$geoip_disable":true}}`,
		`{"uuid":"u6","event":"e","distinct_id":"eve","properties":{"x":1}}`,
	}
	var evs []*event.Event
	for _, s := range in {
		ev := &event.Event{}
		if err := ev.UnmarshalJSON([]byte(s)); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	out := applyAll(t, tr, evs...)
	if len(out.Events) != len(want) {
		t.Fatalf("got %d events, want %d", len(out.Events), len(want))
	}
	for i, ev := range out.Events {
		if got := string(ev.AppendJSON(nil)); got != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}

// TestGeoIPExampleDatabase checks that the committed example database is
// what its generator writes, so the fake data cannot drift from the code.
func TestGeoIPExampleDatabase(t *testing.T) {
	committed, err := os.ReadFile("../../examples/geoip/fake-city.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	built, err := geoip.Build(geoip.ExampleCities)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, built) {
		t.Fatal("examples/geoip/fake-city.mmdb is stale: run go run ./examples/geoip/mkdb examples/geoip/fake-city.mmdb")
	}
	g, err := openGeoDB("../../examples/geoip/fake-city.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := g.locate("203.0.113.9")
	if err != nil || rec == nil {
		t.Fatalf("locate: %v, %v", rec, err)
	}
	if city, _ := rec.Get("city"); !strings.Contains(string(event.AppendValue(nil, city)), "Sample Bay") {
		t.Errorf("record: %s", event.AppendValue(nil, rec))
	}
}

func TestGeoIPDatabaseErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	if err := os.WriteFile(corrupt, []byte("this is not a MaxMind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	good, err := geoip.Build(testCities)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	// The metadata survives at the end; the search tree and data are cut.
	if err := os.WriteFile(truncated, append(append([]byte{}, good[:64]...), good[len(good)-400:]...), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "missing.mmdb"), "missing.mmdb: no such file"},
		{"corrupt", corrupt, corrupt + " is not a MaxMind DB"},
		{"truncated", truncated, truncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.GeoIPDatabase = tc.path
			cfg.Chain = []ChainEntry{{Path: examples + "hello"}}
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), "geoip_database") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want geoip_database ... %q", err, tc.want)
			}
			tr, err := New(cfg, testSettings(t))
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestGeoIPWithoutDatabase(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, `function processEvent(event, { geoip }) {
    event.properties.geo = geoip.locate('192.0.2.1')
    return event
}`)
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{logs: logs}, ChainEntry{Path: dir})
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	if len(out.Events) != 1 {
		t.Fatalf("got %d events", len(out.Events))
	}
	if !strings.Contains(logs.String(), `set geoip_database in the connectors transform \"enrich\"`) {
		t.Errorf("the error should say how to enable geoip:\n%s", logs)
	}
}

// TestGeoIPReloadWhileEventsFlow replaces the database file the way
// geoipupdate does while two sources push events, and checks that answers
// switch to the new data without losing or duplicating an event.
func TestGeoIPReloadWhileEventsFlow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "city.mmdb")
	writeGeoDB(t, db, testCities)
	dir := t.TempDir()
	writePlugin(t, dir, `function processEvent(event, { geoip }) {
    const r = geoip.locate(event.ip)
    event.properties.country = r ? r.country.isoCode : null
    event.properties.hits = (event.properties.hits || 0) + 1
    return event
}`)
	tr := geoTransform(t, db, testOpts{lanes: 2, mutate: func(c *Config) {
		c.PollInterval = component.Duration(50 * time.Millisecond)
	}}, ChainEntry{Path: dir})

	const perSource = 4000
	var (
		mu      sync.Mutex
		seen    = map[string]int{}
		changed = make(chan struct{})
		once    sync.Once
		errs    = make(chan error, 8)
		wg      sync.WaitGroup
	)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for s := 0; s < 2; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < perSource; i += 20 {
				var batch []*event.Event
				for j := i; j < i+20; j++ {
					ev := event.New("e", "d")
					ev.IP = "192.0.2.1"
					ev.Properties = event.Map{{Key: "n", Value: int64(s*perSource + j)}}
					batch = append(batch, ev)
				}
				var out component.Output
				if err := tr.Apply(context.Background(), component.Input{Source: string(rune('a' + s)), Events: batch}, &out); err != nil {
					report(err)
					return
				}
				mu.Lock()
				for _, ev := range out.Events {
					n, _ := ev.Properties.Get("n")
					seen[string(event.AppendValue(nil, n))]++
					if c, _ := ev.Properties.Get("country"); c == "NL" {
						once.Do(func() { close(changed) })
					}
					if h, _ := ev.Properties.Get("hits"); h != int64(1) {
						report(fmt.Errorf("event %v processed %v times", n, h))
					}
				}
				mu.Unlock()
				if i == perSource/4 && s == 0 {
					// Replace the file while both sources are running.
					next := append([]geoip.City(nil), testCities...)
					next[0].CountryCode, next[0].CountryName = "NL", "Netherlands"
					if err := geoip.Write(db, next); err != nil {
						report(err)
						return
					}
				}
				if i >= perSource/2 && s == 0 {
					// Keep going until the new answers show (bounded).
					select {
					case <-changed:
					case <-time.After(10 * time.Second):
						report(errors.New("the new database was not used within 10s"))
						return
					}
				}
			}
		}(s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("the replaced database was never used")
	}
	if len(seen) != 2*perSource {
		t.Fatalf("got %d distinct events, want %d", len(seen), 2*perSource)
	}
	for n, c := range seen {
		if c != 1 {
			t.Fatalf("event %s came out %d times", n, c)
		}
	}
	if got := testutil.ToFloat64(tr.metrics.geoReload.WithLabelValues("enrich", "ok")); got < 1 {
		t.Errorf("geoip reloads ok = %v", got)
	}
}

// TestGeoIPReloadKeepsOldOnCorruptFile replaces the database with garbage:
// lookups keep the loaded version and the failure is counted once.
func TestGeoIPReloadKeepsOldOnCorruptFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "city.mmdb")
	writeGeoDB(t, db, testCities)
	g, err := openGeoDB(db)
	if err != nil {
		t.Fatal(err)
	}
	tmp := db + ".tmp"
	if err := os.WriteFile(tmp, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, db); err != nil {
		t.Fatal(err)
	}
	if ok, err := g.reload(); ok || err == nil || !strings.Contains(err.Error(), db) {
		t.Fatalf("reload of a corrupt file: ok=%v err=%v", ok, err)
	}
	if ok, err := g.reload(); ok || err != nil {
		t.Fatalf("the same broken file must be reported once: ok=%v err=%v", ok, err)
	}
	if rec, err := g.locate("192.0.2.1"); err != nil || rec == nil {
		t.Fatalf("the loaded version must stay: %v %v", rec, err)
	}
	writeGeoDB(t, db, testCities[1:])
	if ok, err := g.reload(); !ok || err != nil {
		t.Fatalf("reload of a good file: ok=%v err=%v", ok, err)
	}
	if rec, _ := g.locate("192.0.2.1"); rec != nil {
		t.Errorf("the new version lacks 192.0.2.0/24, got %s", event.AppendValue(nil, rec))
	}
}
