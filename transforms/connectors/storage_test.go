package connectors

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/buffer"
)

// writeConnector creates a connector folder named by plugin.json name.
func writeConnector(t *testing.T, name, js string) ChainEntry {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(`{"name":`+quoteJS(name)+`,"config":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return ChainEntry{Path: dir}
}

func quoteJS(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// Connector "acme" keeps a token under "evil/token"; connector "acme/evil"
// looks for its own "token" and must not see acme's.
const (
	acmeJS = `export async function processEvent(event, { storage }) {
    if (event.properties.write) await storage.set('evil/token', 'acme-secret')
    event.properties.acme_token = await storage.get('evil/token', 'none')
    event.properties.acme_plain = await storage.get('plain', 'none')
    return event
}`
	evilJS = `export async function processEvent(event, { storage, utils }) {
    event.properties.evil_token = await storage.get('token', 'none')
    if (event.properties.write) await storage.set('token', 'evil-own')
    event.properties.evil_after = await storage.get('token', 'none')
    return event
}`
)

func openTestBuffer(t *testing.T, path string) *buffer.Buffer {
	t.Helper()
	b, err := buffer.Open(path, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStorageIsolatedBetweenConnectors: with the names "acme" and
// "acme/evil" in one chain, neither reads the other's keys, in a real
// bbolt file.
func TestStorageIsolatedBetweenConnectors(t *testing.T) {
	b := openTestBuffer(t, filepath.Join(t.TempDir(), "buffer.db"))
	defer b.Close()
	kv := b.KV("transforms/enrich")
	tr := newTestTransform(t, testOpts{kv: kv}, writeConnector(t, "acme", acmeJS), writeConnector(t, "acme/evil", evilJS))
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"write":true}}`))
	ev := out.Events[0]
	for k, want := range map[string]string{"acme_token": "acme-secret", "evil_token": "none", "evil_after": "evil-own"} {
		if got := prop(t, ev, k); got != want {
			t.Errorf("%s = %v, want %q (%s)", k, got, want, ev.AppendJSON(nil))
		}
	}
	// And the other way: acme/evil's write did not change acme's key.
	out = applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	if got := prop(t, out.Events[0], "acme_token"); got != "acme-secret" {
		t.Errorf("acme_token = %v after acme/evil wrote its token", got)
	}
}

// TestStorageLegacyLayout: a buffer.db written by an earlier hogtail
// ("name/key" keys) stays readable; each key moves to the new layout on
// first read. A legacy key two connectors of the chain could both have
// written is left alone rather than handed to either.
func TestStorageLegacyLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	old := openTestBuffer(t, path)
	legacy := old.KV("transforms/enrich")
	for k, v := range map[string]string{
		"acme/plain":      `"old-plain"`,
		"acme/evil/token": `"acme-old-secret"`, // acme's "evil/token" in the old layout
	} {
		if err := legacy.Set(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	run := func(chain ...ChainEntry) map[string]any {
		t.Helper()
		b := openTestBuffer(t, path)
		defer b.Close()
		tr := newTestTransform(t, testOpts{kv: b.KV("transforms/enrich")}, chain...)
		out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
		got := map[string]any{}
		for _, k := range []string{"acme_token", "acme_plain", "evil_token"} {
			if v, ok := out.Events[0].Properties.Get(k); ok {
				got[k] = v
			}
		}
		return got
	}
	// Both in the chain: "acme/evil/token" is ambiguous, so evil does not
	// get it (nor does acme), and it stays in the file.
	got := run(writeConnector(t, "acme", acmeJS), writeConnector(t, "acme/evil", evilJS))
	if got["evil_token"] != "none" || got["acme_token"] != "none" {
		t.Errorf("ambiguous legacy key was handed out: %v", got)
	}
	if got["acme_plain"] != "old-plain" {
		t.Errorf("acme_plain = %v, want the legacy value", got["acme_plain"])
	}
	// acme alone: its legacy key is its own and is read and moved.
	got = run(writeConnector(t, "acme", acmeJS))
	if got["acme_token"] != "acme-old-secret" || got["acme_plain"] != "old-plain" {
		t.Errorf("acme alone: %v", got)
	}

	b := openTestBuffer(t, path)
	defer b.Close()
	kv := b.KV("transforms/enrich")
	for _, k := range []string{"acme/plain", "acme/evil/token"} {
		if _, ok, err := kv.Get(k); err != nil || ok {
			t.Errorf("legacy key %q still there (%v) after it moved", k, err)
		}
	}
	for k, want := range map[string]string{"plain": `"old-plain"`, "evil/token": `"acme-old-secret"`} {
		if v, ok, err := kv.Get(storageKeyOf("acme", k)); err != nil || !ok || string(v) != want {
			t.Errorf("new key of %q = %q %v %v, want %s", k, v, ok, err, want)
		}
	}
}

func TestStorageKeyOfUnambiguous(t *testing.T) {
	seen := map[string][2]string{}
	for _, c := range [][2]string{{"acme", "evil/token"}, {"acme/evil", "token"}, {"a", "1:bc"}, {"a1:b", "c"}, {"", "x"}, {"x", ""}} {
		k := storageKeyOf(c[0], c[1])
		if prev, dup := seen[k]; dup {
			t.Fatalf("%v and %v share key %q", prev, c, k)
		}
		seen[k] = c
	}
}

func TestConnectorNameWithControlCharacter(t *testing.T) {
	c := DefaultConfig()
	c.Chain = []ChainEntry{writeConnector(t, "ac\\u0000me", acmeJS)}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "control characters") {
		t.Fatalf("error %v, want the name refused", err)
	}
}

// BenchmarkStorageGet measures meta.storage reads on a real bbolt file: a
// hit reads one key; a miss also looks for the key in the layout of
// earlier hogtail versions, which costs a second read and the lock.
func BenchmarkStorageGet(b *testing.B) {
	buf, err := buffer.Open(filepath.Join(b.TempDir(), "buffer.db"), buffer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	sh := &shared{name: "first-time-event", kv: buf.KV("transforms/enrich"), peers: []string{"first-time-event", "other"}}
	if err := sh.storageSet("person:signup:u1", []byte("true")); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct{ name, key string }{{"hit", "person:signup:u1"}, {"miss", "person:signup:u2"}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := sh.storageGet(log, tc.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
