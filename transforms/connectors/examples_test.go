package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const examples = "../../examples/connectors/"

// TestExamples runs each example connector of examples/connectors over a few
// events through RunTest, the code behind `hogtail test`.
func TestExamples(t *testing.T) {
	cases := []struct {
		name    string
		dirs    []string
		configs []string
		stdin   string
		stdout  []string // expected event lines, uuid/timestamp as given
		stderr  []string // substrings expected on stderr
	}{
		{
			name:   "hello",
			dirs:   []string{"hello"},
			stdin:  `{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"a":1}}`,
			stdout: []string{`{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"a":1,"greeting":"Hello world!"}}`},
		},
		{
			name:    "hello with config",
			dirs:    []string{"hello"},
			configs: []string{"hello:greeting=Bonjour"},
			stdin:   `{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z"}`,
			stdout:  []string{`{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"greeting":"Bonjour"}}`},
			stderr:  []string{`msg="Setting up the plugin: Bonjour" connector=hello`},
		},
		{
			name:    "property-filter",
			dirs:    []string{"property-filter"},
			configs: []string{"property-filter:properties=$ip,email,$set.email,nested.secret"},
			stdin: `{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"email":"a@b.c","$ip":"1.2.3.4","keep":1,"nested":{"secret":1,"open":2},"$set":{"email":"x","name":"n"}},"ip":"1.2.3.4"}
{"uuid":"u2","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z"}`,
			stdout: []string{
				`{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"keep":1,"nested":{"open":2},"$set":{"name":"n"}}}`,
				`{"uuid":"u2","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{}}`,
			},
		},
		{
			name:    "url-normalizer",
			dirs:    []string{"url-normalizer"},
			configs: []string{"url-normalizer:strip_query=Yes"},
			stdin: `{"uuid":"u1","event":"$pageview","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$current_url":"https://Example.COM/Pricing/?utm=x#plans","$referrer":"https://www.google.com/","other":"https://KEEP.me/"}}
{"uuid":"u2","event":"$pageview","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$current_url":"not a url"}}`,
			stdout: []string{
				`{"uuid":"u1","event":"$pageview","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$current_url":"https://example.com/Pricing","$referrer":"https://www.google.com","other":"https://KEEP.me/"}}`,
				`{"uuid":"u2","event":"$pageview","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$current_url":"not a url"}}`,
			},
		},
		{
			name:    "schema-enforcer",
			dirs:    []string{"schema-enforcer"},
			configs: []string{"schema-enforcer:required_properties=plan", `schema-enforcer:types={"plan":"string","seats":"number"}`},
			stdin: `{"uuid":"u1","event":"signup","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"plan":"pro","seats":3}}
{"uuid":"u2","event":"signup","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"seats":3}}
{"uuid":"u3","event":"signup","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"plan":"pro","seats":"3"}}
{"uuid":"u4","event":"bad name!","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"plan":"pro"}}`,
			stdout: []string{`{"uuid":"u1","event":"signup","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"plan":"pro","seats":3}}`},
			stderr: []string{`discarding u2: missing \"plan\"`, `discarding u3: \"seats\" is string, not number`, `discarding u4: event name \"bad name!\"`},
		},
		{
			name:    "bot-detector (TypeScript)",
			dirs:    []string{"bot-detector"},
			configs: []string{"bot-detector:extra_patterns=MyMonitor"},
			stdin: `{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$user_agent":"Mozilla/5.0 (compatible; Googlebot/2.1)"}}
{"uuid":"u2","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}}
{"uuid":"u3","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$raw_user_agent":"mymonitor/1.0"}}`,
			stdout: []string{
				`{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$user_agent":"Mozilla/5.0 (compatible; Googlebot/2.1)","$bot":true}}`,
				`{"uuid":"u2","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}}`,
				`{"uuid":"u3","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$raw_user_agent":"mymonitor/1.0","$bot":true}}`,
			},
		},
		{
			name:    "bot-detector drop",
			dirs:    []string{"bot-detector"},
			configs: []string{"bot-detector:action=drop"},
			stdin:   `{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$user_agent":"curl/8.0"}}`,
			stdout:  nil,
		},
		{
			name: "first-time-event (cache + storage)",
			dirs: []string{"first-time-event"},
			stdin: `{"uuid":"u1","event":"signup","distinct_id":"a","timestamp":"2026-01-01T00:00:00.000Z"}
{"uuid":"u2","event":"signup","distinct_id":"a","timestamp":"2026-01-01T00:00:00.000Z"}
{"uuid":"u3","event":"signup","distinct_id":"b","timestamp":"2026-01-01T00:00:00.000Z"}`,
			stdout: []string{
				`{"uuid":"u1","event":"signup","distinct_id":"a","timestamp":"2026-01-01T00:00:00.000Z","properties":{"is_first_event_ever":true,"is_first_event_for_person":true}}`,
				`{"uuid":"u2","event":"signup","distinct_id":"a","timestamp":"2026-01-01T00:00:00.000Z","properties":{"is_first_event_ever":false,"is_first_event_for_person":false}}`,
				`{"uuid":"u3","event":"signup","distinct_id":"b","timestamp":"2026-01-01T00:00:00.000Z","properties":{"is_first_event_ever":false,"is_first_event_for_person":true}}`,
			},
		},
		{
			name:    "slack-webhook",
			dirs:    []string{"hello", "slack-webhook"},
			configs: []string{"slack-webhook:webhook_url=https://hooks.slack.com/services/T/B/X", "slack-webhook:include_properties=Yes"},
			stdin: `{"uuid":"u1","event":"signup","distinct_id":"d","timestamp":"2026-01-01T10:00:00Z","properties":{"plan":"pro","$lib":"web"},"$set":{"email":"ada@example.com"}}
{"uuid":"u2","event":"$pageview","distinct_id":"d","timestamp":"2026-01-01T10:00:00Z"}`,
			stdout: []string{
				`{"uuid":"u1","event":"signup","distinct_id":"d","timestamp":"2026-01-01T10:00:00Z","properties":{"plan":"pro","$lib":"web","greeting":"Hello world!"},"$set":{"email":"ada@example.com"}}`,
				`{"uuid":"u2","event":"$pageview","distinct_id":"d","timestamp":"2026-01-01T10:00:00Z","properties":{"greeting":"Hello world!"}}`,
			},
			stderr: []string{`{"webhook":{"connector":"test/slack-webhook","url":"https://hooks.slack.com/services/T/B/X","method":"POST","headers":{"Content-Type":"application/json"},"body":"{\"text\":\"*signup* by ada@example.com at 2026-01-01T10:00:00.000Z\\n• plan: pro\\n• greeting: Hello world!\"}"}}`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dirs, configs []string
			for _, d := range tc.dirs {
				dirs = append(dirs, examples+d)
			}
			for _, c := range tc.configs {
				configs = append(configs, examples+c)
			}
			var stdout, stderr bytes.Buffer
			if err := RunTest(context.Background(), dirs, TestOptions{Configs: configs}, strings.NewReader(tc.stdin), &stdout, &stderr); err != nil {
				t.Fatalf("RunTest: %v\nstderr:\n%s", err, stderr.String())
			}
			got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if stdout.Len() == 0 {
				got = nil
			}
			if strings.Join(got, "\n") != strings.Join(tc.stdout, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.stdout, "\n"))
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %s:\n%s", w, stderr.String())
				}
			}
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(line, "{") && !json.Valid([]byte(line)) {
					t.Errorf("stderr JSON line is not valid JSON: %s", line)
				}
			}
		})
	}
}

// TestRunTestAttachments loads files given as --config DIR:key=@path into
// meta.attachments, in PostHog's {content_type, file_name, contents} shape.
func TestRunTestAttachments(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "codes.json")
	if err := os.WriteFile(file, []byte(`{"FR":"France"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := RunTest(context.Background(), []string{"testdata/plugins/attachments"}, TestOptions{Configs: []string{"testdata/plugins/attachments:countries=@" + file}},
		strings.NewReader(`{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"code":"FR"}}`), &stdout, &stderr)
	if err != nil {
		t.Fatalf("RunTest: %v\n%s", err, stderr.String())
	}
	want := `{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"code":"FR","country":"France","attachment":"codes.json;application/json","has_notes":false,"text_length":15}}`
	if got := strings.TrimSpace(stdout.String()); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunTestErrors(t *testing.T) {
	cases := []struct {
		name    string
		dirs    []string
		configs []string
		stdin   string
		want    string
	}{
		{"no dirs", nil, nil, "", "give at least one connector folder"},
		{"bad config flag", []string{examples + "hello"}, []string{"nokey"}, "", `--config "nokey": want DIR:key=value`},
		{"config for another dir", []string{examples + "hello"}, []string{examples + "slack-webhook:x=1"}, "", "is not one of the connector folders given"},
		{"missing required", []string{examples + "slack-webhook"}, nil, "", `chain[0].config.webhook_url: connector 'slack-webhook' requires this key`},
		{"bad json line", []string{examples + "hello"}, nil, "{\"event\":\"e\"}\nnot json\n", "stdin line 2"},
		{"undeclared key", []string{examples + "hello"}, []string{examples + "hello:greting=x"}, "", `declares no config key "greting" in plugin.json (declared: greeting)`},
		{"key of a plugin without config", []string{"testdata/plugins/esm"}, []string{"testdata/plugins/esm:x=1"}, "", `declares no config key "x" in plugin.json (declared: none)`},
		{"attachment without @", []string{"testdata/plugins/attachments"}, []string{"testdata/plugins/attachments:countries=countries.json"}, "", `"countries" is an attachment: give a file as testdata/plugins/attachments:countries=@path`},
		{"missing attachment file", []string{"testdata/plugins/attachments"}, []string{"testdata/plugins/attachments:countries=@testdata/nope.json"}, "", "chain[0].attachments.countries: reading attachment"},
		{"missing required attachment", []string{"testdata/plugins/attachments"}, nil, "", `chain[0].attachments.countries: connector "attachments" requires this attachment`},
		// A throwing setupPlugin fails at once (no retry), with the
		// plugin's message and a stack in its own source file.
		{"setup throws", []string{"testdata/plugins/ts-throws"}, []string{"testdata/plugins/ts-throws:mode=setup"}, "", "setupPlugin: Error: setup refused: mode is setup\n\tat setupPlugin (src/index.ts:9:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := RunTest(context.Background(), tc.dirs, TestOptions{Configs: tc.configs}, strings.NewReader(tc.stdin), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRunTestCallsEveryEvent: `hogtail test` never switches a failing
// connector off; all 15 failing events reach it.
func TestRunTestCallsEveryEvent(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 15; i++ {
		in.WriteString(`{"event":"boom","distinct_id":"d"}` + "\n")
	}
	var stdout, stderr bytes.Buffer
	if err := RunTest(context.Background(), []string{"testdata/plugins/ts-throws"}, TestOptions{}, strings.NewReader(in.String()), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 15 {
		t.Errorf("%d events out, want 15", n)
	}
	if strings.Contains(stderr.String(), "switched off") {
		t.Errorf("the connector was switched off:\n%s", stderr.String())
	}
}

// TestRunTestGeoIP: `hogtail test --geoip FILE` gives the connectors
// meta.geoip, so the GeoIP example can be tried as an author would; a
// database that cannot be read is an error naming it.
func TestRunTestGeoIP(t *testing.T) {
	in := `{"uuid":"u1","event":"e","distinct_id":"d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$ip":"203.0.113.9"}}`
	var stdout, stderr bytes.Buffer
	err := RunTest(context.Background(), []string{"../../examples/connectors/geoip"},
		TestOptions{GeoIPDatabase: "../../examples/geoip/fake-city.mmdb"}, strings.NewReader(in), &stdout, &stderr)
	if err != nil {
		t.Fatalf("RunTest: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"$geoip_city_name":"Sample Bay"`) {
		t.Errorf("no geo properties in %s\n%s", stdout.String(), stderr.String())
	}
	stdout.Reset()
	err = RunTest(context.Background(), []string{"../../examples/connectors/geoip"},
		TestOptions{GeoIPDatabase: "testdata/no-such.mmdb"}, strings.NewReader(in), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no-such.mmdb") {
		t.Errorf("a missing database: %v", err)
	}
}
