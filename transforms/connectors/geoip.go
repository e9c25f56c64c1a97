package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/oschwald/maxminddb-golang/v2"
)

// geoDB is the MaxMind database behind meta.geoip, shared by every runtime
// of a transform. The reader is swapped atomically when the file changes,
// so a lookup always sees one complete version and no event waits for a
// reload.
type geoDB struct {
	path string
	cur  atomic.Pointer[geoVersion]
	// mu serialises reloads and guards failed.
	mu sync.Mutex
	// failed is the file that last failed to load, so that a broken file
	// is reported once, not at every poll.
	failed os.FileInfo
}

// geoVersion is one loaded version of the file.
type geoVersion struct {
	r  *maxminddb.Reader
	fi os.FileInfo
}

// openGeoDB loads and verifies the database at path. Every error names the
// file.
func openGeoDB(path string) (*geoDB, error) {
	v, err := loadGeoVersion(path)
	if err != nil {
		return nil, err
	}
	g := &geoDB{path: path}
	g.cur.Store(v)
	return g, nil
}

func loadGeoVersion(path string) (*geoVersion, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geoip_database: %w", err)
	}
	// Open maps the file; the mapping is released by the reader's cleanup
	// once no lookup uses it any more, so a replaced version needs no
	// Close racing with lookups still running on other lanes.
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip_database: %s is not a MaxMind DB: %w", path, err)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("geoip_database: %s is corrupt: %w", path, err)
	}
	return &geoVersion{r: r, fi: fi}, nil
}

// checkGeoDB is what Validate runs: the file must load.
func checkGeoDB(path string) error {
	_, err := loadGeoVersion(path)
	return err
}

// sameFile reports whether a and b describe the same version of a file:
// geoipupdate replaces it by rename (a new inode); an in-place copy changes
// size or modification time.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// reload loads the file if it changed. On error the loaded version stays.
func (g *geoDB) reload() (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fi, err := os.Stat(g.path)
	if err != nil {
		return false, nil // missing for a moment during a replace; keep the loaded one
	}
	if sameFile(fi, g.cur.Load().fi) || sameFile(fi, g.failed) {
		return false, nil
	}
	v, err := loadGeoVersion(g.path)
	if err != nil {
		g.failed = fi
		return false, err
	}
	g.failed = nil
	g.cur.Store(v)
	return true, nil
}

// watch reloads the database when its file changes: fsnotify on its folder
// (a rename into place is an event on the folder, not on the old file),
// with a poll as a fallback. onReload reports each attempt.
func (g *geoDB) watch(ctx context.Context, log *slog.Logger, poll time.Duration, onReload func(ok bool)) {
	base := filepath.Base(g.path)
	check := func() {
		ok, err := g.reload()
		switch {
		case err != nil:
			onReload(false)
			log.Error("GeoIP database changed but cannot be loaded; keeping the loaded version", "error", err)
		case ok:
			onReload(true)
			log.Info("GeoIP database reloaded", "file", g.path)
		}
	}
	folderWatch{
		dirs:     []string{filepath.Dir(g.path)},
		relevant: func(p string) bool { return filepath.Base(p) == base },
		poll:     poll,
		check:    check,
		log:      log.With("file", g.path),
	}.run(ctx)
}

// locate returns the record of ip in the shape @maxmind/geoip2-node's
// Reader.city() returns, or nil when the address is invalid or not in the
// database (private and reserved ranges never are).
func (g *geoDB) locate(ip string) (event.Map, error) {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return nil, nil
	}
	res := g.cur.Load().r.Lookup(addr.Unmap())
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("geoip: looking up %s: %w", ip, err)
	}
	if !res.Found() {
		return nil, nil
	}
	var raw map[string]any
	if err := res.Decode(&raw); err != nil {
		return nil, fmt.Errorf("geoip: decoding the record of %s: %w", ip, err)
	}
	return cityModel(raw, addr, res.Prefix()), nil
}

// cityModel mirrors geoip2-node's City model: keys camelCased deeply
// (except keys with a dash, such as the "pt-BR" of names), the Country
// sections only when present, city/location/postal defaulting to {} and
// subdivisions to [], traits with its boolean flags defaulting to false plus
// ipAddress and network.
func cityModel(raw map[string]any, addr netip.Addr, prefix netip.Prefix) event.Map {
	m := event.Map{}
	section := func(key, jsKey string, def any) {
		if v, ok := raw[key]; ok && v != nil {
			m = append(m, event.Field{Key: jsKey, Value: geoValue(v)})
		} else if def != nil {
			m = append(m, event.Field{Key: jsKey, Value: def})
		}
	}
	section("continent", "continent", nil)
	section("country", "country", nil)
	section("maxmind", "maxmind", nil)
	section("registered_country", "registeredCountry", nil)
	if rc, ok := m.Get("registeredCountry"); ok {
		if rcm, ok := rc.(event.Map); ok {
			eu, _ := rcm.Get("isInEuropeanUnion")
			b, _ := eu.(bool)
			rcm.Set("isInEuropeanUnion", b)
			m.Set("registeredCountry", rcm)
		}
	}
	section("represented_country", "representedCountry", nil)
	traits, _ := geoValue(raw["traits"]).(event.Map)
	if traits == nil {
		traits = event.Map{}
	}
	for _, k := range []string{"isAnonymous", "isAnonymousProxy", "isAnonymousVpn", "isHostingProvider", "isLegitimateProxy", "isPublicProxy", "isResidentialProxy", "isSatelliteProvider", "isTorExitNode"} {
		v, _ := traits.Get(k)
		b, _ := v.(bool)
		traits.Set(k, b)
	}
	traits.Set("ipAddress", addr.String())
	traits.Set("network", prefix.String())
	m = append(m, event.Field{Key: "traits", Value: traits})
	section("city", "city", event.Map{})
	section("location", "location", event.Map{})
	section("postal", "postal", event.Map{})
	section("subdivisions", "subdivisions", []any{})
	return m
}

// geoValue converts a decoded MaxMind value to event.Map values, keys
// camelCased and sorted (a decoded map has no order).
func geoValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return sortedMap(t, camelKey, geoValue)
	case []any:
		return convertSlice(t, geoValue)
	case uint16:
		return int64(t)
	case uint32:
		return int64(t)
	case uint64:
		return int64(t)
	case int32:
		return int64(t)
	case int:
		return int64(t)
	case uint:
		return int64(t)
	case float32:
		return float64(t)
	case *big.Int:
		return t.String()
	case []byte:
		return string(t)
	}
	return v // string, float64, bool
}

// camelKey turns snake_case into camelCase as camelcase-keys does for the
// MaxMind keys; keys with a dash (locale codes) stay as they are.
func camelKey(k string) string {
	if strings.Contains(k, "-") || !strings.Contains(k, "_") {
		return k
	}
	var b strings.Builder
	up := false
	for _, r := range k {
		if r == '_' {
			up = true
			continue
		}
		if up && b.Len() > 0 && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// geoipObject is meta.geoip: locate(ip) returns the City record or null,
// synchronously as PostHog's geoip extension does (plugins await it, which
// works on a plain value too).
func (in *instance) geoipObject() *goja.Object {
	vm := in.vm
	o := vm.NewObject()
	_ = o.Set("locate", func(call goja.FunctionCall) goja.Value {
		g := in.t.geo
		if g == nil {
			panic(vm.NewGoError(fmt.Errorf("IP location capabilities are not available: set geoip_database in the connectors transform %q", in.t.name)))
		}
		rec, err := g.locate(call.Argument(0).String())
		if err != nil {
			panic(vm.NewGoError(err))
		}
		if rec == nil {
			return goja.Null()
		}
		return toJS(vm, rec)
	})
	return o
}
