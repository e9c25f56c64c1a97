package componenttest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/hogtail/hogtail/agent/component"
)

// Factory is what CheckSample needs of a source, transform or sink factory.
type Factory interface {
	Type() string
	NewConfig() component.Config
	Sample() string
}

// CheckSample checks that a component's sample.toml holds exactly one
// table of its kind ("sources", "transforms" or "sinks") and type, that
// every key in it is an option of the config, and that every value is the
// default. expect adjusts the defaults for the example values a sample
// shows (an include path, a required key); it may be nil. replace maps
// placeholders like "${POSTHOG_API_KEY}" to the text decoded instead. It
// returns the decoded config, for further checks.
func CheckSample(t testing.TB, kind string, f Factory, expect func(want component.Config), replace ...string) component.Config {
	t.Helper()
	text := f.Sample()
	for i := 0; i+1 < len(replace); i += 2 {
		text = strings.ReplaceAll(text, replace[i], replace[i+1])
	}
	var doc map[string]map[string]toml.Primitive
	md, err := toml.Decode(text, &doc)
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if len(doc) != 1 || len(doc[kind]) != 1 {
		t.Fatalf("sample.toml must hold exactly one [%s.NAME] table, has %v", kind, keys(doc))
	}
	var got component.Config
	for _, prim := range doc[kind] {
		var head struct {
			Type   string   `toml:"type"`
			Inputs []string `toml:"inputs"`
		}
		if err := md.PrimitiveDecode(prim, &head); err != nil {
			t.Fatal(err)
		}
		if head.Type != f.Type() {
			t.Fatalf("sample.toml: type %q, want %q", head.Type, f.Type())
		}
		got = f.NewConfig()
		if err := md.PrimitiveDecode(prim, got); err != nil {
			t.Fatalf("sample.toml: %v", err)
		}
		for _, k := range md.Undecoded() {
			t.Errorf("sample.toml key %s is not an option of %s", k, f.Type())
		}
		want := f.NewConfig()
		if expect != nil {
			expect(want)
		}
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
			t.Errorf("sample.toml differs from the defaults:\n got %s\nwant %s", g, w)
		}
	}
	return got
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
