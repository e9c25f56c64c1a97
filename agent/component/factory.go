package component

import (
	"fmt"
	"sort"
)

// Config is a component's configuration: a pointer to a struct decoded from
// the component's TOML table.
type Config interface {
	// Validate reports every problem of the config (errors.Join), each
	// message starting with the key it concerns ("timeout: must be ...").
	Validate() error
}

// SourceFactory builds one type of source.
type SourceFactory interface {
	Type() string
	// NewConfig returns a config filled with defaults, ready to decode into.
	NewConfig() Config
	// Sample is the documented sample.toml of the component.
	Sample() string
	CreateSource(cfg Config, set Settings) (Source, error)
}

// TransformFactory builds one type of transform.
type TransformFactory interface {
	Type() string
	NewConfig() Config
	Sample() string
	CreateTransform(cfg Config, set Settings) (Transform, error)
}

// SinkFactory builds one type of sink.
type SinkFactory interface {
	Type() string
	// Kind tells whether the sink consumes events or webhook requests.
	Kind() Kind
	// NewConfig returns a config that embeds DeliveryConfig.
	NewConfig() Config
	Sample() string
	CreateSink(cfg Config, set Settings) (Sink, error)
}

// factory is the part every factory shares; T is the concrete type create
// returns and I the interface the factory hands out (Source, Transform,
// Sink).
type factory[C Config, T, I any] struct {
	typ      string
	sample   string
	defaults func() C
	create   func(C, Settings) (T, error)
}

func (f factory[C, T, I]) Type() string      { return f.typ }
func (f factory[C, T, I]) Sample() string    { return f.sample }
func (f factory[C, T, I]) NewConfig() Config { return f.defaults() }

// build casts cfg to C and calls create. A failed create yields the nil I,
// never an I holding a nil *T.
func (f factory[C, T, I]) build(cfg Config, set Settings) (I, error) {
	var zero I
	c, ok := cfg.(C)
	if !ok {
		var want C
		return zero, fmt.Errorf("%s: config has type %T, want %T", f.typ, cfg, want)
	}
	t, err := f.create(c, set)
	if err != nil {
		return zero, err
	}
	// The constructors below constrain T to implement I; a nil interface T
	// gives the nil I rather than a panic.
	i, _ := any(t).(I)
	return i, nil
}

type sourceFactory[C Config, S Source] struct{ factory[C, S, Source] }

func (f sourceFactory[C, S]) CreateSource(cfg Config, set Settings) (Source, error) {
	return f.build(cfg, set)
}

// NewSourceFactory returns a factory for sources whose config type is C (a
// pointer to a struct). defaults returns a fresh config with every default;
// create may return the concrete source type.
func NewSourceFactory[C Config, S Source](typ, sample string, defaults func() C, create func(C, Settings) (S, error)) SourceFactory {
	return sourceFactory[C, S]{factory[C, S, Source]{typ, sample, defaults, create}}
}

type transformFactory[C Config, T Transform] struct{ factory[C, T, Transform] }

func (f transformFactory[C, T]) CreateTransform(cfg Config, set Settings) (Transform, error) {
	return f.build(cfg, set)
}

// NewTransformFactory returns a factory for transforms with config type C;
// create may return the concrete transform type.
func NewTransformFactory[C Config, T Transform](typ, sample string, defaults func() C, create func(C, Settings) (T, error)) TransformFactory {
	return transformFactory[C, T]{factory[C, T, Transform]{typ, sample, defaults, create}}
}

// SinkConfig is what a sink config must be: validatable, with delivery
// options embedded.
type SinkConfig interface {
	Config
	DeliveryConfigurer
}

type sinkFactory[C SinkConfig, S Sink] struct {
	factory[C, S, Sink]
	kind Kind
}

func (f sinkFactory[C, S]) Kind() Kind { return f.kind }

func (f sinkFactory[C, S]) CreateSink(cfg Config, set Settings) (Sink, error) {
	return f.build(cfg, set)
}

// NewSinkFactory returns a factory for sinks with config type C; create may
// return the concrete sink type (its New, unwrapped).
func NewSinkFactory[C SinkConfig, S Sink](typ string, kind Kind, sample string, defaults func() C, create func(C, Settings) (S, error)) SinkFactory {
	return sinkFactory[C, S]{factory[C, S, Sink]{typ, sample, defaults, create}, kind}
}

// Registry holds the factories hogtail knows, by TOML type. It is built
// explicitly by the command (one line per component).
type Registry struct {
	Sources    map[string]SourceFactory
	Transforms map[string]TransformFactory
	Sinks      map[string]SinkFactory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		Sources:    map[string]SourceFactory{},
		Transforms: map[string]TransformFactory{},
		Sinks:      map[string]SinkFactory{},
	}
}

// AddSource registers f; it panics on a duplicate type (a programming error).
func (r *Registry) AddSource(f SourceFactory) *Registry {
	mustAdd(r.Sources, f.Type(), f, "source")
	return r
}

// AddTransform registers f.
func (r *Registry) AddTransform(f TransformFactory) *Registry {
	mustAdd(r.Transforms, f.Type(), f, "transform")
	return r
}

// AddSink registers f.
func (r *Registry) AddSink(f SinkFactory) *Registry {
	mustAdd(r.Sinks, f.Type(), f, "sink")
	return r
}

func mustAdd[F any](m map[string]F, typ string, f F, kind string) {
	if _, dup := m[typ]; dup {
		panic(fmt.Sprintf("hogtail: %s type %q registered twice", kind, typ))
	}
	m[typ] = f
}

// Types lists the registered type names of a map, sorted.
func Types[F any](m map[string]F) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ConfigDirSetter is implemented by configs whose Validate resolves relative
// paths (connector folders, attachments): the loader tells them the config
// file's directory before calling Validate.
type ConfigDirSetter interface {
	SetConfigDir(dir string)
}
