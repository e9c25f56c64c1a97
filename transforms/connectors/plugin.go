package connectors

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dop251/goja"
	"github.com/evanw/esbuild/pkg/api"
	"github.com/hogtail/hogtail/agent/event"
)

// pluginJSON is plugin.json as PostHog's plugin server reads it.
type pluginJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	URL         string          `json:"url"`
	Main        string          `json:"main"`
	Config      []configEntry   `json:"-"`
	RawConfig   json.RawMessage `json:"config"`
}

// configEntry is one entry of plugin.json config[]. Entries without a key
// (pure markdown) are skipped.
type configEntry struct {
	Key      string          `json:"key"`
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Default  json.RawMessage `json:"default"`
	Required bool            `json:"required"`
	Secret   bool            `json:"secret"`
	Choices  []string        `json:"choices"`
	Markdown string          `json:"markdown"`
}

// hostModules are the imports PostHog provides to plugins; the host supplies
// them at run time, everything else is a load error.
var hostModules = []string{"crypto", "url", "node-fetch", "@posthog/plugin-scaffold"}

func readPluginJSON(dir string) (*pluginJSON, error) {
	b, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		return nil, fmt.Errorf("reading plugin.json: %w", err)
	}
	var p pluginJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("plugin.json: %w", err)
	}
	raw := bytes.TrimSpace(p.RawConfig)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '[':
		if err := json.Unmarshal(raw, &p.Config); err != nil {
			return nil, fmt.Errorf("plugin.json: config: %w", err)
		}
	case raw[0] == '{':
		// The Record<key, schema> form.
		var m map[string]configEntry
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("plugin.json: config: %w", err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e := m[k]
			if e.Key == "" {
				e.Key = k
			}
			p.Config = append(p.Config, e)
		}
	default:
		return nil, errors.New("plugin.json: config: must be an array or an object")
	}
	return &p, nil
}

// mainFile returns the path of the plugin's main source file.
func (p *pluginJSON) mainFile(dir string) (string, error) {
	if p.Main != "" {
		f := filepath.Join(dir, filepath.FromSlash(p.Main))
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("main %q: %w", p.Main, err)
		}
		return f, nil
	}
	for _, name := range []string{"index.js", "index.ts"} {
		f := filepath.Join(dir, name)
		if _, err := os.Stat(f); err == nil {
			return f, nil
		}
	}
	return "", errors.New("no main in plugin.json and neither index.js nor index.ts exists")
}

// defaultString renders a plugin.json default as PostHog stores it: a string.
func defaultString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

// tomlString turns a TOML config value into the string PostHog would store.
func tomlString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// attachment is a file given to a plugin as meta.attachments[key].
type attachment struct {
	ContentType string
	FileName    string
	Contents    []byte
}

// resolvedConfig is a connector's meta.config and meta.attachments.
type resolvedConfig struct {
	// Config keeps plugin.json order first, then extra keys sorted. Values
	// are strings, or parsed JSON (event.Map, []any, ...) for json entries.
	Config      event.Map
	Attachments map[string]attachment
}

// resolveConfig types and defaults the TOML config against plugin.json.
// Every problem is reported, each starting with prefix+key.
func resolveConfig(p *pluginJSON, values map[string]any, atts map[string]string, baseDir, prefix string) (*resolvedConfig, []error) {
	var errs []error
	rc := &resolvedConfig{Attachments: map[string]attachment{}}
	declared := map[string]bool{}
	for _, e := range p.Config {
		if e.Key == "" {
			continue // markdown-only entry
		}
		declared[e.Key] = true
		if e.Type == "attachment" {
			path, ok := atts[e.Key]
			if !ok {
				if e.Required {
					errs = append(errs, fmt.Errorf("%sattachments.%s: connector %q requires this attachment", prefix, e.Key, p.Name))
				}
				continue
			}
			a, err := loadAttachment(resolvePath(baseDir, path))
			if err != nil {
				errs = append(errs, fmt.Errorf("%sattachments.%s: %w", prefix, e.Key, err))
				continue
			}
			rc.Attachments[e.Key] = a
			continue
		}
		v, ok := values[e.Key]
		var s string
		if ok {
			s = tomlString(v)
		} else if d, has := defaultString(e.Default); has {
			s, ok = d, true
		}
		if !ok || (e.Required && s == "") {
			if e.Required {
				// The name in single quotes: the messages about a secret
				// key have their double-quoted values masked.
				errs = append(errs, fmt.Errorf("%sconfig.%s: connector '%s' requires this key (plugin.json: required)", prefix, e.Key, p.Name))
			}
			continue
		}
		if len(e.Choices) > 0 && !slices.Contains(e.Choices, s) {
			errs = append(errs, fmt.Errorf("%sconfig.%s: connector '%s': %q is not one of the choices %q", prefix, e.Key, p.Name, s, e.Choices))
			continue
		}
		if e.Type == "json" {
			if _, isStr := v.(string); ok && v != nil && !isStr {
				rc.Config = append(rc.Config, event.Field{Key: e.Key, Value: tomlToValue(v)})
				continue
			}
			parsed, err := event.ParseValue([]byte(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("%sconfig.%s: connector %q: not valid JSON: %v", prefix, e.Key, p.Name, err))
				continue
			}
			rc.Config = append(rc.Config, event.Field{Key: e.Key, Value: parsed})
			continue
		}
		rc.Config = append(rc.Config, event.Field{Key: e.Key, Value: s})
	}
	// Keys not declared in plugin.json pass through, as PostHog passes the
	// stored config object as is.
	extra := make([]string, 0)
	for k := range values {
		if !declared[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		rc.Config = append(rc.Config, event.Field{Key: k, Value: tomlString(values[k])})
	}
	for k, path := range atts {
		if _, done := rc.Attachments[k]; done || declared[k] {
			continue
		}
		a, err := loadAttachment(resolvePath(baseDir, path))
		if err != nil {
			errs = append(errs, fmt.Errorf("%sattachments.%s: %w", prefix, k, err))
			continue
		}
		rc.Attachments[k] = a
	}
	return rc, errs
}

// sortedMap turns a Go map into an event.Map in key order (a Go map has
// none), converting keys with key and values with conv.
func sortedMap(t map[string]any, key func(string) string, conv func(any) any) event.Map {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := make(event.Map, 0, len(t))
	for _, k := range keys {
		m = append(m, event.Field{Key: key(k), Value: conv(t[k])})
	}
	return m
}

// convertSlice converts every element of s with conv.
func convertSlice[T any](s []T, conv func(any) any) []any {
	out := make([]any, len(s))
	for i := range s {
		out[i] = conv(s[i])
	}
	return out
}

func sameKey(k string) string { return k }

func tomlToValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return sortedMap(t, sameKey, tomlToValue)
	case []any:
		return convertSlice(t, tomlToValue)
	case []map[string]any:
		return convertSlice(t, tomlToValue)
	case int:
		return int64(t)
	default:
		return v
	}
}

func loadAttachment(path string) (attachment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return attachment{}, fmt.Errorf("reading attachment: %w", err)
	}
	ct := mime.TypeByExtension(filepath.Ext(path))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return attachment{ContentType: ct, FileName: filepath.Base(path), Contents: b}, nil
}

func resolvePath(base, p string) string {
	if filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

// bundleName names the bundled script inside goja.
const bundleName = "bundle.js"

// compiled is the result of bundling a connector's main file.
type compiled struct {
	Program *goja.Program
	Source  string
}

// compile bundles the main file with esbuild (ESM/CJS, JS/TS, relative
// imports) into one CommonJS script and compiles it for goja. The bundle
// carries an inline source map, which goja's parser reads, so stack traces
// name the connector's own files and lines (paths relative to dir).
func compile(dir, mainFile string) (*compiled, error) {
	dir, err := filepath.Abs(dir)
	if err == nil {
		mainFile, err = filepath.Abs(mainFile)
	}
	if err != nil {
		return nil, fmt.Errorf("connector folder: %w", err)
	}
	importPlugin := api.Plugin{
		Name: "hogtail-host-imports",
		Setup: func(b api.PluginBuild) {
			b.OnResolve(api.OnResolveOptions{Filter: `^[^./]`}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
				if args.Kind == api.ResolveEntryPoint || filepath.IsAbs(args.Path) {
					return api.OnResolveResult{}, nil
				}
				name := strings.TrimPrefix(args.Path, "node:")
				if slices.Contains(hostModules, name) {
					return api.OnResolveResult{Path: name, External: true}, nil
				}
				return api.OnResolveResult{}, fmt.Errorf("Cannot import '%s'! This package is not provided by PostHog in plugins.", args.Path)
			})
		},
	}
	res := api.Build(api.BuildOptions{
		EntryPoints: []string{mainFile},
		Bundle:      true,
		Write:       false,
		Format:      api.FormatCommonJS,
		Platform:    api.PlatformNeutral,
		Target:      api.ES2017,
		// goja runs object spread and rest natively; esbuild's ES2017
		// helpers for them (for-in, hasOwnProperty, defineProperty per
		// key) made a spread copy of an event's properties cost tens of
		// microseconds.
		Supported: map[string]bool{"object-rest-spread": true},
		// PostHog transpiles every file with the TypeScript preset.
		Loader:         map[string]api.Loader{".js": api.LoaderTS, ".mjs": api.LoaderTS, ".cjs": api.LoaderTS},
		LogLevel:       api.LogLevelSilent,
		Plugins:        []api.Plugin{importPlugin},
		Sourcemap:      api.SourceMapInline,
		SourcesContent: api.SourcesContentExclude,
		AbsWorkingDir:  dir,
		// A script without exports relies on its top-level functions.
		TreeShaking: api.TreeShakingFalse,
		// Keep unused imports (type-only ones still vanish), so that an
		// unsupported package fails the load as it does in PostHog.
		TsconfigRaw: `{"compilerOptions": {"verbatimModuleSyntax": true}}`,
	})
	if len(res.Errors) > 0 {
		msgs := make([]string, 0, len(res.Errors))
		for _, m := range res.Errors {
			text := m.Text
			if m.Location != nil {
				// Locations are relative to dir; the full path is one an
				// operator can open.
				text = fmt.Sprintf("%s:%d:%d: %s", filepath.Join(dir, m.Location.File), m.Location.Line, m.Location.Column+1, text)
			}
			msgs = append(msgs, text)
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if len(res.OutputFiles) == 0 {
		return nil, errors.New("esbuild produced no output")
	}
	src := string(res.OutputFiles[0].Contents)
	// The script's name is only what the source map's paths are resolved
	// against: a name at the root of dir keeps them as esbuild wrote them.
	prog, err := goja.Compile(bundleName, src, false)
	if err != nil {
		return nil, fmt.Errorf("compiling bundle: %w", err)
	}
	return &compiled{Program: prog, Source: src}, nil
}

// fingerprint hashes a connector folder's files (names, sizes and contents)
// so a reload happens only when something changed.
func fingerprint(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
