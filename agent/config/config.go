// Package config loads and validates hogtail's TOML configuration.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/redact"
)

// DefaultPath is where hogtail looks for its config when --config is not
// given.
const DefaultPath = "/etc/hogtail/hogtail.toml"

// Config is a loaded, validated configuration.
type Config struct {
	// File is the path the config was read from.
	File string
	// Dir is the directory of File; relative paths resolve against it.
	Dir string

	DataDir         string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	API             APIConfig
	Buffer          BufferConfig
	Health          HealthConfig

	Sources    map[string]*Source
	Transforms map[string]*Transform
	Sinks      map[string]*Sink

	// Warnings are suspicious but valid settings (a source nobody reads).
	Warnings []string

	reg *component.Registry
}

// Registry returns the component registry the config was loaded with.
func (c *Config) Registry() *component.Registry { return c.reg }

// APIConfig is the [api] table.
type APIConfig struct {
	Enabled bool   `toml:"enabled"`
	Address string `toml:"address"`
	// AuthToken, when set, is the bearer token every endpoint but /health
	// requires. It is required when Address is not a loopback address.
	AuthToken string `toml:"auth_token"`
	// AllowedHosts are extra Host header names the API answers to, besides
	// loopback names, IP literals and the host of Address.
	AllowedHosts []string `toml:"allowed_hosts"`
	// Tap serves /tap (hogtail tap), which shows every event in clear.
	Tap bool `toml:"tap"`
	// Pprof serves /debug/pprof/.
	Pprof bool `toml:"pprof"`
}

// Equal reports whether c and o are the same settings.
func (c APIConfig) Equal(o APIConfig) bool {
	return c.Enabled == o.Enabled && c.Address == o.Address && c.AuthToken == o.AuthToken &&
		c.Tap == o.Tap && c.Pprof == o.Pprof && slices.Equal(c.AllowedHosts, o.AllowedHosts)
}

// IsLoopbackAddress reports whether the host of a host:port listen address
// is a loopback IP or "localhost". An empty host (all interfaces) is not.
func IsLoopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// HealthConfig is the [health] table: when /health reports a problem that
// is not an outright failure. None of these stops the systemd watchdog
// pings, which only mean that hogtail's own machinery runs.
type HealthConfig struct {
	// SinkFailingAfter is how long a sink's deliveries may keep failing
	// (network errors, timeouts, 5xx) before /health reports it.
	SinkFailingAfter component.Duration `toml:"sink_failing_after"`
	// MinFreeDisk is the free space under data_dir below which /health
	// reports the disk as full.
	MinFreeDisk component.ByteSize `toml:"min_free_disk"`
}

// BufferConfig is the [buffer] table: settings of the whole bbolt file.
type BufferConfig struct {
	// Sync fsyncs every commit. Turning it off trades durability against a
	// machine crash or power loss (not a process crash) for throughput.
	Sync bool `toml:"sync"`
}

// Source is a configured source.
type Source struct {
	Name    string
	Type    string
	Config  component.Config
	Factory component.SourceFactory
}

// Transform is a configured transform.
type Transform struct {
	Name    string
	Type    string
	Inputs  []string
	Config  component.Config
	Factory component.TransformFactory
}

// Sink is a configured sink.
type Sink struct {
	Name     string
	Type     string
	Inputs   []string
	Config   component.SinkConfig
	Factory  component.SinkFactory
	Delivery *component.DeliveryConfig
	// Implicit sinks are created by the agent (a connector chain's webhook
	// queue), not written in the file.
	Implicit bool
}

type rawFile struct {
	DataDir         string                    `toml:"data_dir"`
	LogLevel        string                    `toml:"log_level"`
	LogFormat       string                    `toml:"log_format"`
	ShutdownTimeout component.Duration        `toml:"shutdown_timeout"`
	API             APIConfig                 `toml:"api"`
	Buffer          BufferConfig              `toml:"buffer"`
	Health          HealthConfig              `toml:"health"`
	Sources         map[string]toml.Primitive `toml:"sources"`
	Transforms      map[string]toml.Primitive `toml:"transforms"`
	Sinks           map[string]toml.Primitive `toml:"sinks"`
}

type head struct {
	Type   string   `toml:"type"`
	Inputs []string `toml:"inputs"`
}

// Load reads and validates the config at path. On failure the error is an
// Errors value listing every problem found.
func Load(path string, reg *component.Registry) (*Config, error) {
	return load(&loader{file: path, reg: reg})
}

// load reads the config file of l and parses it.
func load(l *loader) (*Config, error) {
	data, err := os.ReadFile(l.file)
	if err != nil {
		return nil, Errors{{File: l.file, Msg: fmt.Sprintf("cannot read config: %v", err)}}
	}
	return parse(l, data, os.LookupEnv)
}

// LoadSettings reads only the top-level settings of the config at path
// (data_dir, api, buffer, health, logging), checked as Load checks them,
// without building the components: for commands that need the data
// directory or the API address of an agent, and should neither fail on a
// component's problem (a connector with a syntax error, which a running
// agent keeps its old version of) nor run its code. The returned Config
// has no components.
func LoadSettings(path string) (*Config, error) {
	return load(&loader{file: path, settingsOnly: true})
}

// Parse validates config text as if read from path; lookup resolves
// ${VAR} references.
func Parse(path string, data []byte, reg *component.Registry, lookup func(string) (string, bool)) (*Config, error) {
	return parse(&loader{file: path, reg: reg}, data, lookup)
}

func parse(l *loader, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	path := l.file
	text, probs := interpolate(string(data), lookup)
	for _, p := range probs {
		p.File = path
		l.problems = append(l.problems, p)
	}
	l.loc = newLocator(text)
	cfg := l.parse(text)
	// Messages may quote values: secrets must not reach the terminal or
	// the log of a rejected reload.
	for i := range l.problems {
		l.problems[i].Msg = redact.Problem(l.problems[i].Key, l.problems[i].Msg)
	}
	if len(l.problems) > 0 {
		return nil, l.problems.sorted()
	}
	return cfg, nil
}

type loader struct {
	// settingsOnly: read the top-level settings, not the components (see
	// LoadSettings).
	settingsOnly bool
	file         string
	reg          *component.Registry
	loc          *locator
	problems     Errors
	declared     map[string]string // name -> "sources" | "transforms"
	failed       map[string]bool   // components whose table could not be decoded
	dir          string            // directory of the config file
}

func (l *loader) add(component, key, msg string) {
	path := []string{}
	if component != "" {
		path = append(path, strings.Split(component, ".")...)
	}
	if key != "" {
		path = append(path, strings.Split(key, ".")...)
	}
	l.problems = append(l.problems, Problem{File: l.file, Line: l.loc.line(path...), Component: component, Key: key, Msg: msg})
}

// topLevel decodes the top-level settings one key at a time, so that one
// bad value does not hide the others.
func (l *loader) topLevel(md toml.MetaData, top map[string]toml.Primitive, raw *rawFile) {
	fields := map[string]any{
		"data_dir":         &raw.DataDir,
		"log_level":        &raw.LogLevel,
		"log_format":       &raw.LogFormat,
		"shutdown_timeout": &raw.ShutdownTimeout,
		"api":              &raw.API,
		"buffer":           &raw.Buffer,
		"health":           &raw.Health,
		"sources":          &raw.Sources,
		"transforms":       &raw.Transforms,
		"sinks":            &raw.Sinks,
	}
	for key, prim := range top {
		dst, ok := fields[key]
		if !ok {
			continue // reported by Undecoded
		}
		switch key {
		case "api", "buffer", "health", "sources", "transforms", "sinks":
			// "" is a table made implicitly by [sources.NAME].
			if typ := md.Type(key); typ != "Hash" && typ != "" {
				l.add("", key, fmt.Sprintf("must be a table ([%s] or [%s.NAME]), got %s", key, key, tomlTypeName(typ)))
				continue
			}
		}
		switch key {
		case "api", "buffer", "health":
			l.decodeByKey(md, key, prim, dst)
			continue
		}
		if err := md.PrimitiveDecode(prim, dst); err != nil {
			l.addDecodeError("", key, err)
		}
	}
}

// decodeByKey decodes the table prim of section into the struct dst one
// key at a time: a bad value is reported under its own key, and does not
// stop the keys after it from being decoded (they would be reported as
// unknown).
func (l *loader) decodeByKey(md toml.MetaData, section string, prim toml.Primitive, dst any) {
	var keys map[string]toml.Primitive
	if err := md.PrimitiveDecode(prim, &keys); err != nil {
		l.addDecodeError("", section, err)
		return
	}
	v := reflect.ValueOf(dst).Elem()
	fields := map[string]reflect.Value{}
	for i := 0; i < v.NumField(); i++ {
		if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ","); tag != "" && tag != "-" {
			fields[tag] = v.Field(i)
		}
	}
	for k, sub := range keys {
		f, ok := fields[k]
		if !ok {
			// Decoding the table into keys marked them all decoded.
			l.unknownKey(toml.Key{section, k})
			continue
		}
		if err := md.PrimitiveDecode(sub, f.Addr().Interface()); err != nil {
			l.addDecodeError(section, k, err)
		}
	}
}

// tomlTypeName words a toml.MetaData type for a message.
func tomlTypeName(typ string) string {
	switch typ {
	case "Integer":
		return "a number"
	case "Float":
		return "a number"
	case "String":
		return "a string"
	case "Bool":
		return "a boolean"
	case "Array":
		return "an array"
	case "ArrayHash":
		return "an array of tables ([[...]])"
	case "Datetime":
		return "a date"
	}
	return strings.ToLower(typ)
}

func (l *loader) parse(text string) *Config {
	raw := rawFile{
		DataDir:         "/var/lib/hogtail",
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: component.Duration(30 * time.Second),
		API:             APIConfig{Enabled: true, Address: "127.0.0.1:8686"},
		Buffer:          BufferConfig{Sync: true},
		Health:          HealthConfig{SinkFailingAfter: component.Duration(5 * time.Minute), MinFreeDisk: 64 << 20},
	}
	var top map[string]toml.Primitive
	md, err := toml.Decode(text, &top)
	if err != nil {
		l.addDecodeError("", "", err)
		return nil
	}
	l.topLevel(md, top, &raw)
	abs, _ := filepath.Abs(l.file)
	l.dir = filepath.Dir(abs)
	cfg := &Config{
		File:            l.file,
		Dir:             filepath.Dir(abs),
		DataDir:         raw.DataDir,
		LogLevel:        raw.LogLevel,
		LogFormat:       raw.LogFormat,
		ShutdownTimeout: raw.ShutdownTimeout.D(),
		API:             raw.API,
		Buffer:          raw.Buffer,
		Health:          raw.Health,
		Sources:         map[string]*Source{},
		Transforms:      map[string]*Transform{},
		Sinks:           map[string]*Sink{},
		reg:             l.reg,
	}
	// Every declared name, even of a component that failed to load, so
	// one mistake does not cascade into "unknown input" elsewhere.
	l.declared = map[string]string{}
	for n := range raw.Sources {
		l.declared[n] = "sources"
	}
	for n := range raw.Transforms {
		if _, dup := l.declared[n]; !dup {
			l.declared[n] = "transforms"
		}
	}
	l.failed = map[string]bool{}
	if cfg.DataDir == "" {
		l.add("", "data_dir", "must not be empty")
	} else if !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(cfg.Dir, cfg.DataDir)
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		l.add("", "log_level", fmt.Sprintf("must be debug, info, warn or error, got %q", cfg.LogLevel))
	}
	switch cfg.LogFormat {
	case "text", "json":
	default:
		l.add("", "log_format", fmt.Sprintf("must be text or json, got %q", cfg.LogFormat))
	}
	if cfg.Health.SinkFailingAfter < 0 {
		l.add("health", "sink_failing_after", "must not be negative")
	}
	if cfg.Health.MinFreeDisk < 0 {
		l.add("health", "min_free_disk", "must not be negative")
	}
	l.checkAPI(&cfg.API)
	if l.settingsOnly {
		return cfg
	}

	for _, name := range sortedKeys(raw.Sources) {
		h, f, c, ok := decodeComponent(l, md, "sources."+name, raw.Sources[name], l.reg.Sources)
		if !ok {
			continue
		}
		if h.Inputs != nil {
			l.add("sources."+name, "inputs", "sources take no inputs")
		}
		cfg.Sources[name] = &Source{Name: name, Type: h.Type, Config: c, Factory: f}
	}
	for _, name := range sortedKeys(raw.Transforms) {
		h, f, c, ok := decodeComponent(l, md, "transforms."+name, raw.Transforms[name], l.reg.Transforms)
		if !ok {
			continue
		}
		cfg.Transforms[name] = &Transform{Name: name, Type: h.Type, Inputs: h.Inputs, Config: c, Factory: f}
	}
	for _, name := range sortedKeys(raw.Sinks) {
		comp := "sinks." + name
		h, f, c, ok := decodeComponent(l, md, comp, raw.Sinks[name], l.reg.Sinks)
		if !ok {
			continue
		}
		sc, ok := c.(component.SinkConfig)
		if !ok {
			l.add(comp, "type", fmt.Sprintf("sink type %q has a config without delivery options (a bug in hogtail)", h.Type))
			continue
		}
		cfg.Sinks[name] = &Sink{Name: name, Type: h.Type, Inputs: h.Inputs, Config: sc, Factory: f, Delivery: sc.Delivery()}
	}
	for _, key := range md.Undecoded() {
		if len(key) >= 2 && l.failed[key[0]+"."+key[1]] {
			continue // its keys were never matched against a config
		}
		l.unknownKey(key)
	}
	l.checkGraph(cfg)
	return cfg
}

// decodeComponent decodes a component's table: its type and inputs, then
// its options into a config from the type's factory, which it validates.
// ok is false when the table cannot be used (bad syntax, unknown type);
// the problems are recorded either way.
func decodeComponent[F interface{ NewConfig() component.Config }](l *loader, md toml.MetaData, comp string, prim toml.Primitive, factories map[string]F) (h head, f F, c component.Config, ok bool) {
	if !l.decode(md, comp, prim, &h) {
		return h, f, nil, false
	}
	f, known := factories[h.Type]
	if !l.checkType(comp, h.Type, known, component.Types(factories)) {
		l.failed[comp] = true
		return h, f, nil, false
	}
	c = f.NewConfig()
	if !l.decode(md, comp, prim, c) {
		// Still a component: its name counts for wiring, its options do not.
		return h, f, c, true
	}
	l.validate(comp, c)
	if d, ok := c.(component.DeliveryConfigurer); ok {
		// The options every sink shares are checked here, once.
		for _, err := range splitErrors(d.Delivery().Validate()) {
			key, msg := keyOf(err.Error())
			l.add(comp, key, msg)
		}
	}
	return h, f, c, true
}

func (l *loader) checkType(comp, typ string, known bool, types []string) bool {
	switch {
	case typ == "":
		l.add(comp, "type", fmt.Sprintf("missing; one of: %s", strings.Join(types, ", ")))
		return false
	case !known:
		l.add(comp, "type", fmt.Sprintf("unknown type %q; one of: %s", typ, strings.Join(types, ", ")))
		return false
	}
	return true
}

func (l *loader) decode(md toml.MetaData, comp string, prim toml.Primitive, v any) bool {
	if err := md.PrimitiveDecode(prim, v); err != nil {
		l.addDecodeError(comp, "", err)
		l.failed[comp] = true
		return false
	}
	return true
}

// addDecodeError turns a TOML syntax or type error into a problem with the
// best position available.
func (l *loader) addDecodeError(comp, key string, err error) {
	if pe, ok := err.(toml.ParseError); ok {
		if key == "" && comp != "" {
			key = strings.TrimPrefix(pe.LastKey, comp+".")
			if key == pe.LastKey {
				key = l.loc.keyWithValue(comp, quoted(pe.Message))
			}
		}
		l.problems = append(l.problems, Problem{File: l.file, Line: pe.Position.Line, Component: comp, Key: key, Msg: pe.Message})
		return
	}
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	// BurntSushi reports `line N (last key "a.b.c"): ...` for type errors.
	if i := strings.Index(msg, `(last key "`); i >= 0 {
		rest := msg[i+len(`(last key "`):]
		if j := strings.Index(rest, `")`); j >= 0 {
			full := rest[:j]
			switch {
			case comp != "" && strings.HasPrefix(full, comp+"."):
				key = strings.TrimPrefix(full, comp+".")
			case comp == "":
				key = full
			}
			msg = strings.TrimSpace(strings.TrimPrefix(rest[j+2:], ":"))
		}
	}
	if key == "" {
		// Errors from a value's UnmarshalText name the value, not the key:
		// find the key whose value it is.
		key = l.loc.keyWithValue(comp, quoted(msg))
	}
	l.add(comp, key, msg)
}

// quoted returns the first double-quoted string in msg.
func quoted(msg string) string {
	i := strings.IndexByte(msg, '"')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(msg[i+1:], '"')
	if j < 0 {
		return ""
	}
	return msg[i : i+j+2]
}

func (l *loader) validate(comp string, c component.Config) {
	if ds, ok := c.(component.ConfigDirSetter); ok {
		ds.SetConfigDir(l.dir)
	}
	for _, err := range splitErrors(c.Validate()) {
		key, msg := keyOf(err.Error())
		l.add(comp, key, msg)
	}
}

func (l *loader) unknownKey(key toml.Key) {
	parts := []string(key)
	comp := ""
	rest := parts
	if len(parts) >= 2 {
		switch parts[0] {
		case "sources", "transforms", "sinks":
			comp = parts[0] + "." + parts[1]
			rest = parts[2:]
		}
	}
	l.add(comp, strings.Join(rest, "."), "unknown key")
}

func (l *loader) checkGraph(cfg *Config) {
	kinds := l.declared
	for n := range cfg.Transforms {
		if _, dup := cfg.Sources[n]; dup {
			l.add("transforms."+n, "", fmt.Sprintf("name also used by sources.%s; names must be unique", n))
		}
	}
	for n := range cfg.Sinks {
		if k, dup := kinds[n]; dup {
			l.add("sinks."+n, "", fmt.Sprintf("name also used by %s.%s; names must be unique", k, n))
		}
	}
	consumed := map[string]bool{}
	checkInputs := func(comp string, inputs []string, webhooks bool) {
		if len(inputs) == 0 {
			l.add(comp, "inputs", "must list at least one source or transform")
			return
		}
		for _, in := range inputs {
			consumed[in] = true
			switch kinds[in] {
			case "sources":
				if webhooks {
					l.add(comp, "inputs", fmt.Sprintf("%q is a source; a webhook sink takes connector transforms as inputs", in))
				}
			case "transforms":
			default:
				if _, isSink := cfg.Sinks[in]; isSink {
					l.add(comp, "inputs", fmt.Sprintf("%q is a sink; inputs must be sources or transforms", in))
				} else {
					l.add(comp, "inputs", fmt.Sprintf("unknown input %q", in))
				}
			}
		}
	}
	for _, n := range sortedKeys(cfg.Transforms) {
		checkInputs("transforms."+n, cfg.Transforms[n].Inputs, false)
	}
	for _, n := range sortedKeys(cfg.Sinks) {
		s := cfg.Sinks[n]
		checkInputs("sinks."+n, s.Inputs, s.Factory.Kind() == component.KindWebhooks)
	}
	// Cycles among transforms.
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var stack []string
	var visit func(n string) bool
	visit = func(n string) bool {
		switch state[n] {
		case 1:
			i := 0
			for stack[i] != n {
				i++
			}
			cycle := append(append([]string{}, stack[i:]...), n)
			l.add("transforms."+n, "inputs", "cycle: "+strings.Join(cycle, " -> "))
			return false
		case 2:
			return true
		}
		state[n] = 1
		stack = append(stack, n)
		for _, in := range cfg.Transforms[n].Inputs {
			if _, ok := cfg.Transforms[in]; ok && !visit(in) {
				return false
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = 2
		return true
	}
	for _, n := range sortedKeys(cfg.Transforms) {
		if state[n] == 0 {
			stack = stack[:0]
			visit(n)
		}
	}
	for _, n := range sortedKeys(cfg.Sources) {
		if !consumed[n] {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("sources.%s: no transform or sink reads from it; its events are discarded", n))
		}
	}
	for _, n := range sortedKeys(cfg.Transforms) {
		if !consumed[n] {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("transforms.%s: no transform or sink reads from it; its events are discarded", n))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkAPI validates the [api] table. Off loopback the API is reachable by
// anyone on the network, so it must not run without a token.
func (l *loader) checkAPI(api *APIConfig) {
	if !api.Enabled {
		return
	}
	if api.Address == "" {
		l.add("api", "address", "must not be empty when the API is enabled")
		return
	}
	if err := component.CheckListenAddress("tcp", api.Address); err != nil {
		l.add("api", "address", err.Error())
		return
	}
	if api.AuthToken == "" && !IsLoopbackAddress(api.Address) {
		l.add("api", "auth_token", fmt.Sprintf("must be set because api.address %s is not a loopback address: without it anyone on the network can read metrics and, with api.tap, every event", api.Address))
	}
	for i, h := range api.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/: ") {
			l.add("api", "allowed_hosts", fmt.Sprintf("[%d]: %q is not a host name", i, h))
		}
	}
}
