package connectors

import (
	"strings"
	"testing"
)

// TestRuntimeErrorsNameOriginalFileAndLine runs a TypeScript connector whose
// imported module throws on a known line: the logged stack names that file
// and line, not a position in the esbuild bundle.
func TestRuntimeErrorsNameOriginalFileAndLine(t *testing.T) {
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{logs: logs}, plugin("ts-throws", nil))
	applyAll(t, tr, mustEvent(t, `{"event":"boom","distinct_id":"u"}`))
	got := logs.String()
	t.Log(got)
	for _, want := range []string{"boom at line six of check.ts", "lib/check.ts:6:", "src/index.ts:14:"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, bundleName) {
		t.Errorf("log names the bundle instead of the sources:\n%s", got)
	}
}
