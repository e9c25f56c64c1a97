package main

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/sinks/sinktest"
	"github.com/twmb/franz-go/pkg/kfake"
)

// repoRoot is the repository, two levels above this package.
const repoRoot = "../.."

// documentedMetrics returns every hogtail metric named in a README or a
// sample.toml of the repository, with the files naming it.
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	// Metric names start with these; other hogtail_ words (the Kafka
	// topic hogtail_events) are not metrics.
	re := regexp.MustCompile(`hogtail_(?:component|sink|buffer|config|file_source|http_source|syslog_source|journald_source|connector)_[a-z0-9_]*[a-z0-9]`)
	out := map[string][]string{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != repoRoot {
			return filepath.SkipDir
		}
		if d.IsDir() || (d.Name() != "README.md" && d.Name() != "sample.toml") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllString(string(b), -1) {
			out[m] = append(out[m], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d documented metrics: the pattern or the walk is wrong", len(out))
	}
	return out
}

// TestDocumentedMetricsAreExported runs an agent with every kind of
// component, sends a little traffic through each, and scrapes /metrics:
// every metric a README or sample names must be there.
func TestDocumentedMetricsAreExported(t *testing.T) {
	documented := documentedMetrics(t)
	rcv := sinktest.NewReceiver(nil)
	defer rcv.Close()
	kc, err := kfake.NewCluster(kfake.SeedTopics(1, "hogtail_events"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	os.WriteFile(logFile, []byte("one\ntwo\n"), 0o644)
	hello, _ := filepath.Abs(filepath.Join(repoRoot, "examples/connectors/hello"))
	geoip, _ := filepath.Abs(filepath.Join(repoRoot, "examples/geoip/fake-city.mmdb"))
	httpAddr, syslogAddr := "127.0.0.1:"+freePort(t, "tcp"), "127.0.0.1:"+freePort(t, "udp")
	cfgPath := filepath.Join(dir, "hogtail.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir = "data"
shutdown_timeout = "2s"
[api]
address = "127.0.0.1:0"
[sources.files]
type = "file"
include = [%q]
[sources.web]
type = "http"
address = %q
[sources.sys]
type = "syslog"
mode = "udp"
address = %q
[sources.journal]
type = "journald"
[transforms.chain]
type = "connectors"
inputs = ["files", "web", "sys", "journal"]
geoip_database = %q
[[transforms.chain.chain]]
path = %q
config = { greeting = "hi" }
[sinks.ph]
type = "posthog"
inputs = ["chain"]
host = %q
api_key = "phc_test"
batch_timeout = "10ms"
[sinks.out]
type = "http"
inputs = ["chain"]
url = %q
batch_timeout = "10ms"
[sinks.kafka]
type = "kafka"
inputs = ["chain"]
brokers = [%q]
batch_timeout = "10ms"
`, logFile, httpAddr, syslogAddr, geoip, hello, rcv.URL, rcv.URL, kc.ListenAddrs()[0])), 0o644)
	cfg, err := config.Load(cfgPath, components())
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	apiAddr, _, err := a.ServeAPI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-a.Started()

	// A little traffic: an event and a rejected one over HTTP, a syslog
	// message; the file source reads its two lines by itself.
	componenttest.Eventually(t, 10*time.Second, "the http source listens", func() bool {
		resp, err := http.Post("http://"+httpAddr+"/ingest", "application/json", strings.NewReader(`{"event":"e","distinct_id":"d"}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	if resp, err := http.Post("http://"+httpAddr+"/ingest", "application/json", strings.NewReader(`[1]`)); err == nil {
		resp.Body.Close()
	}
	if c, err := net.Dial("udp", syslogAddr); err == nil {
		fmt.Fprint(c, "<13>1 2026-01-01T00:00:00Z host app - - - hello")
		c.Close()
	}

	exported := map[string]bool{}
	scrape := func() {
		resp, err := http.Get("http://" + apiAddr + "/metrics")
		if err != nil {
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(body), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
				exported[f[2]] = true
			}
		}
	}
	missing := func() []string {
		var out []string
		for m := range documented {
			if !exported[m] {
				out = append(out, m)
			}
		}
		sort.Strings(out)
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for scrape(); len(missing()) > 0 && time.Now().Before(deadline); scrape() {
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range missing() {
		t.Errorf("%s is documented (%s) but not exported", m, strings.Join(documented[m], ", "))
	}
}

// TestNoRegistrationErrorIgnored reads every non-test Go file: a call to a
// Register function (component.RegisterInto and the register behind it,
// a Registerer's Register or MustRegister) must not drop its error with _
// or by ignoring the result.
func TestNoRegistrationErrorIgnored(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != repoRoot {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		isRegister := func(e ast.Expr) bool {
			call, ok := e.(*ast.CallExpr)
			if !ok {
				return false
			}
			fun := call.Fun
			if ix, ok := fun.(*ast.IndexExpr); ok {
				fun = ix.X
			}
			switch f := fun.(type) {
			case *ast.SelectorExpr:
				return f.Sel.Name == "Register" || f.Sel.Name == "MustRegister"
			case *ast.Ident:
				return f.Name == "Register" || f.Name == "register"
			}
			return false
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.ExprStmt:
				if isRegister(s.X) {
					checked++
					t.Errorf("%s: the result of a registration is ignored", fset.Position(s.Pos()))
				}
			case *ast.AssignStmt:
				if len(s.Rhs) == 1 && isRegister(s.Rhs[0]) {
					checked++
					if id, ok := s.Lhs[len(s.Lhs)-1].(*ast.Ident); ok && id.Name == "_" {
						t.Errorf("%s: a registration error is assigned to _", fset.Position(s.Pos()))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("found no registration call: the check looks at nothing")
	}
}
