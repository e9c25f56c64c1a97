// Package connectors implements the "connectors" transform: an ordered chain
// of PostHog data connectors (plugin.json + index.js/index.ts, the PostHog
// plugin format) run in embedded goja runtimes.
package connectors

import (
	_ "embed"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/hogtail/hogtail/agent/component"
)

//go:embed sample.toml
var sample string

// Values of Config.OnError.
const (
	OnErrorPass       = "pass"
	OnErrorDrop       = "drop"
	OnErrorDeadLetter = "dead_letter"
)

// Config is the TOML configuration of a connectors transform.
type Config struct {
	// OnError decides the fate of an event whose connector threw or timed
	// out: pass (continue unchanged, as PostHog does), drop or dead_letter.
	OnError string `toml:"on_error"`
	// Timeout bounds one call into a connector.
	Timeout component.Duration `toml:"timeout"`
	// Lanes is the number of parallel runtimes per connector; 0 = NumCPU.
	Lanes int `toml:"lanes"`
	// HotReload watches connector folders and swaps in new versions.
	HotReload bool `toml:"hot_reload"`
	// PollInterval is the polling fallback period of hot reload.
	PollInterval component.Duration `toml:"poll_interval"`
	// FetchTimeout bounds one fetch() request.
	FetchTimeout component.Duration `toml:"fetch_timeout"`
	// FetchAllowHosts restricts fetch() to these hosts, on every redirect
	// hop; empty allows all.
	FetchAllowHosts []string `toml:"fetch_allow_hosts"`
	// FetchAllowNetworks are CIDRs fetch() may connect to although they
	// are loopback, private, link-local or otherwise internal, which it
	// refuses by default.
	FetchAllowNetworks []string `toml:"fetch_allow_networks"`
	// SetupRetry is the first backoff after a failing setupPlugin.
	SetupRetry component.Duration `toml:"setup_retry"`
	// MaxMemory is how much the heap may grow during one call into a
	// connector before the call is stopped; 0 = no limit.
	MaxMemory component.ByteSize `toml:"max_memory"`
	// BreakerThreshold switches a connector off after this many consecutive
	// events it failed (threw, timed out, ran out of memory); 0 never does.
	BreakerThreshold int `toml:"breaker_threshold"`
	// BreakerRetry is how long a switched-off connector waits before one
	// event probes it again.
	BreakerRetry component.Duration `toml:"breaker_retry"`
	// GeoIPDatabase is the MaxMind City database (.mmdb) behind
	// meta.geoip, relative to the config file; empty = no meta.geoip.
	GeoIPDatabase string `toml:"geoip_database"`
	// Exports configures the export queue of the chain's onEvent and
	// exportEvents connectors.
	Exports ExportsConfig `toml:"exports"`
	// Chain lists the connectors in order.
	Chain []ChainEntry `toml:"chain"`

	// configDir resolves relative paths during Validate (see SetConfigDir).
	configDir string
	// setupFailFast makes a throwing setupPlugin an error at once instead
	// of a retry with backoff (hogtail test).
	setupFailFast bool
}

// ChainEntry is one connector of the chain.
type ChainEntry struct {
	// Path is the connector folder, relative to the config file's folder.
	Path string `toml:"path"`
	// Config becomes meta.config.
	Config map[string]any `toml:"config"`
	// Attachments maps meta.attachments keys to files.
	Attachments map[string]string `toml:"attachments"`
}

// DefaultConfig returns a config with every default.
func DefaultConfig() *Config {
	return &Config{
		OnError:          OnErrorPass,
		Timeout:          component.Duration(5 * time.Second),
		HotReload:        true,
		PollInterval:     component.Duration(2 * time.Second),
		FetchTimeout:     component.Duration(3 * time.Second),
		SetupRetry:       component.Duration(5 * time.Second),
		MaxMemory:        256 << 20,
		BreakerThreshold: 10,
		BreakerRetry:     component.Duration(time.Minute),
		Exports:          defaultExports(),
	}
}

// SetConfigDir tells Validate where relative connector paths start. The
// config file loader has no way to pass it to Validate yet; when it is not
// called, relative paths are taken from the working directory.
func (c *Config) SetConfigDir(dir string) { c.configDir = dir }

// Validate reports every problem, loading each connector's plugin.json to
// check required keys, choices and attachments, and bundling, compiling and
// running each connector's top-level code.
func (c *Config) Validate() error {
	var errs []error
	switch c.OnError {
	case OnErrorPass, OnErrorDrop, OnErrorDeadLetter:
	default:
		errs = append(errs, fmt.Errorf("on_error: must be %q, %q or %q, got %q", OnErrorPass, OnErrorDrop, OnErrorDeadLetter, c.OnError))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	if c.Lanes < 0 {
		errs = append(errs, fmt.Errorf("lanes: must be 0 (number of cores) or more, got %d", c.Lanes))
	}
	if c.HotReload && c.PollInterval <= 0 {
		errs = append(errs, errors.New("poll_interval: must be positive"))
	}
	if c.FetchTimeout <= 0 {
		errs = append(errs, errors.New("fetch_timeout: must be positive"))
	}
	if c.SetupRetry <= 0 {
		errs = append(errs, errors.New("setup_retry: must be positive"))
	}
	if c.BreakerThreshold < 0 {
		errs = append(errs, fmt.Errorf("breaker_threshold: must be 0 (never switch a connector off) or more, got %d", c.BreakerThreshold))
	}
	if c.BreakerRetry <= 0 {
		errs = append(errs, errors.New("breaker_retry: must be positive"))
	}
	for i, h := range c.FetchAllowHosts {
		if h == "" || strings.ContainsAny(h, "/: ") {
			errs = append(errs, fmt.Errorf("fetch_allow_hosts[%d]: %q is not a host name", i, h))
		}
	}
	if _, perrs := parseNetworks(c.FetchAllowNetworks); len(perrs) > 0 {
		errs = append(errs, perrs...)
	}
	if c.GeoIPDatabase != "" {
		if err := checkGeoDB(resolvePath(c.configDir, c.GeoIPDatabase)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Exports.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Chain) == 0 {
		errs = append(errs, errors.New("chain: needs at least one connector ([[transforms.NAME.chain]] with a path)"))
	}
	names := map[string]int{}
	for i, e := range c.Chain {
		prefix := fmt.Sprintf("chain[%d].", i)
		if e.Path == "" {
			errs = append(errs, fmt.Errorf("chain[%d].path: must be set", i))
			continue
		}
		dir := resolvePath(c.configDir, e.Path)
		spec, err := loadSpec(dir, e, c.configDir, prefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := names[spec.name]; dup {
			errs = append(errs, fmt.Errorf("chain[%d].path: connector %q is already chain[%d]; a connector may appear once per chain", i, spec.name, j))
		}
		names[spec.name] = i
		if err := c.checkRuns(i, spec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// spec is a connector's static description: plugin.json and resolved config.
type spec struct {
	name   string
	dir    string
	plugin *pluginJSON
	main   string
	config *resolvedConfig
}

// loadSpec reads plugin.json and resolves the config of one chain entry.
func loadSpec(dir string, e ChainEntry, baseDir, prefix string) (*spec, error) {
	p, err := readPluginJSON(dir)
	if err != nil {
		return nil, fmt.Errorf("%spath: connector %s: %w", prefix, dir, err)
	}
	name := p.Name
	if name == "" {
		name = filepath.Base(dir)
		p.Name = name
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return nil, fmt.Errorf("%spath: connector %q: the name must not contain control characters", prefix, name)
	}
	main, err := p.mainFile(dir)
	if err != nil {
		return nil, fmt.Errorf("%spath: connector %q: %w", prefix, name, err)
	}
	rc, errs := resolveConfig(p, e.Config, e.Attachments, baseDir, prefix)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &spec{name: name, dir: dir, plugin: p, main: main, config: rc}, nil
}

// NewFactory returns the factory of the connectors transform.
func NewFactory() component.TransformFactory {
	return component.NewTransformFactory("connectors", sample, DefaultConfig, func(c *Config, set component.Settings) (component.Transform, error) {
		return New(c, set)
	})
}
