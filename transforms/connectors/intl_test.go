package connectors

import (
	"encoding/json"
	"os"
	"sort"
	"testing"

	"github.com/dop251/goja"
)

// runIntlCases runs testdata/intl/cases.js in a runtime with hogtail's
// Intl and returns its cases object.
func runIntlCases(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("testdata/intl/cases.js")
	if err != nil {
		t.Fatal(err)
	}
	vm := goja.New()
	if err := installIntl(vm); err != nil {
		t.Fatal(err)
	}
	v, err := vm.RunString(string(src) + "\nJSON.stringify(cases)")
	if err != nil {
		t.Fatal(jsErrorText(err))
	}
	got := map[string]string{}
	if err := json.Unmarshal([]byte(v.String()), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestIntlMatchesNode compares Intl, toLocale*String and Date parsing with
// Node's output (testdata/intl/node.json, written by running cases.js with
// `TZ=UTC node`). Cases listed in differences.json are where hogtail's CLDR
// data or pattern choice differs; they must keep giving the recorded output,
// so a change in either direction is noticed.
func TestIntlMatchesNode(t *testing.T) {
	t.Setenv("TZ", "UTC")
	got := runIntlCases(t)
	var node, diffs map[string]string
	readJSONFile(t, "testdata/intl/node.json", &node)
	readJSONFile(t, "testdata/intl/differences.json", &diffs)
	if *update {
		// Record where hogtail differs from Node now; review the diff.
		out := map[string]string{}
		for k, want := range node {
			if got[k] != want {
				out[k] = got[k]
			}
		}
		b, err := json.MarshalIndent(out, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/intl/differences.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	keys := make([]string, 0, len(node))
	for k := range node {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(got) != len(node) {
		t.Errorf("cases.js gave %d cases in goja, %d in node.json (regenerate node.json)", len(got), len(node))
	}
	for _, k := range keys {
		want := node[k]
		if d, ok := diffs[k]; ok {
			if got[k] != d {
				t.Errorf("%s: got %q, recorded difference %q (node %q)", k, got[k], d, want)
			}
			continue
		}
		if got[k] != want {
			t.Errorf("%s: got %q, node %q", k, got[k], want)
		}
	}
}

// TestIntlLocalesDerive checks that the patterns recovered from every
// shipped locale's CLDR formats have the fields they must have, so a new
// locale or library version cannot silently degrade to literals.
func TestIntlLocalesDerive(t *testing.T) {
	d := loadIntl()
	for _, tag := range d.tags {
		l := d.byTag[tag]
		for name, p := range map[string][]token{"short": l.short, "medium": l.medium, "long": l.long} {
			if !(hasField(p, "y") || hasField(p, "yy")) || !(hasField(p, "M") || hasField(p, "MMM") || hasField(p, "MMMM")) || !hasField(p, "d") {
				t.Errorf("%s %s: %+v", tag, name, p)
			}
		}
		if !(hasField(l.timeMedium, "H") || hasField(l.timeMedium, "h")) || !hasField(l.timeMedium, "m") || !hasField(l.timeMedium, "s") {
			t.Errorf("%s timeMedium: %+v", tag, l.timeMedium)
		}
		if l.hour12 && (!hasField(l.timeMedium, "a") || l.period(probeA) == "") {
			t.Errorf("%s: 12-hour locale without AM/PM markers", tag)
		}
	}
}
