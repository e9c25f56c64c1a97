package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/hogtail/hogtail/transforms/connectors"
)

const testUsage = `Usage: hogtail test DIR [DIR ...] [--config DIR:key=value ...] [--geoip FILE] [--fetch-allow-network CIDR ...]

Runs JSON-lines events from stdin through the chain of connector folders DIR
(in order), without a running agent: each resulting event is printed on stdout
as a JSON line, each webhook request composed by composeWebhook on stderr as
{"webhook": {...}}. --config sets meta.config values of the connector in DIR;
the key must be declared in its plugin.json. For a key of type "attachment",
give a file as DIR:key=@path: it becomes meta.attachments[key]. A setupPlugin
that throws ends the test at once (exit 1) with its error and stack. --geoip
names a MaxMind City database (.mmdb) behind meta.geoip.locate(ip), as the
transform's geoip_database option does.

Connectors with onEvent or exportEvents are called once per event (or per
input line's events for exportEvents) right after the chain, and each call
is shown on stderr as {"export": {...}} with its outcome ("ok", "retry" for
a RetryError or a timeout, which the agent retries, "error" for any other
throw, which the agent dead-letters) and the fetch requests it made.
--fetch-allow-network lets fetch reach an internal network or address (a
local test server: --fetch-allow-network 127.0.0.1), as the transform's
fetch_allow_networks option does.

Example:
  echo '{"event":"signup","distinct_id":"u1","properties":{"email":"a@b.c"}}' |
    hogtail test examples/connectors/hello examples/connectors/property-filter \
      --config examples/connectors/property-filter:properties=email
  hogtail test ./my-connector --config ./my-connector:mapping=@mapping.json
  echo '{"event":"e","distinct_id":"u","properties":{"$ip":"203.0.113.9"}}' |
    hogtail test examples/connectors/geoip --geoip examples/geoip/fake-city.mmdb
`

func cmdTest(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var dirs, configs []string
	var geoip string
	var nets []string
	// Flags may stand before, between or after the connector folders, which
	// package flag does not allow: the arguments are read here.
	valued := []struct {
		name, needs string
		set         func(string)
	}{
		{"config", "DIR:key=value", func(v string) { configs = append(configs, v) }},
		{"geoip", "a .mmdb file", func(v string) { geoip = v }},
		{"fetch-allow-network", "a CIDR or an address", func(v string) { nets = append(nets, v) }},
	}
args:
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, testUsage)
			return 0
		}
		if !strings.HasPrefix(a, "-") {
			dirs = append(dirs, a)
			continue
		}
		name, value, inline := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		for _, f := range valued {
			if name != f.name {
				continue
			}
			if !inline {
				if i+1 >= len(args) {
					fmt.Fprintf(stderr, "hogtail test: %s needs %s\n\n%s", a, f.needs, testUsage)
					return 2
				}
				i++
				value = args[i]
			}
			f.set(value)
			continue args
		}
		fmt.Fprintf(stderr, "hogtail test: unknown flag %s\n\n%s", a, testUsage)
		return 2
	}
	if len(dirs) == 0 {
		fmt.Fprintf(stderr, "hogtail test: name at least one connector folder\n\n%s", testUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := connectors.RunTest(ctx, dirs, connectors.TestOptions{Configs: configs, GeoIPDatabase: geoip, FetchAllowNetworks: nets}, stdin, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "hogtail test:", err)
		return 1
	}
	return 0
}
