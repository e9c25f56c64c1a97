package connectors

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestObjectSpreadStaysNative: object spread and rest reach goja as written
// (goja runs them natively), not as esbuild's ES2017 helpers, which cost a
// for-in, a hasOwnProperty and a defineProperty per copied key. The spread
// golden case checks that the result is the same.
func TestObjectSpreadStaysNative(t *testing.T) {
	dir := filepath.Join("testdata", "plugins", "spread")
	c, err := compile(dir, filepath.Join(dir, "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, helper := range []string{"__spreadValues", "__objRest"} {
		if strings.Contains(c.Source, helper) {
			t.Errorf("bundle uses esbuild's %s:\n%s", helper, c.Source)
		}
	}
	for _, native := range []string{"...event", "...rest", "remove_me, ..."} {
		if !strings.Contains(c.Source, native) {
			t.Errorf("bundle lacks %q:\n%s", native, c.Source)
		}
	}
}
