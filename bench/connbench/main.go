// Command connbench measures connectors written like popular PostHog plugins
// in hogtail (`hogtail test`, one lane) and in Node running them the way
// PostHog's plugin server does (node-runner.js), on the same events, in the
// same run. See bench/README.md.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/hogtail/hogtail/bench/realworld"
)

// workload is a chain of connector folders measured as one row.
type workload struct {
	name string
	dirs []string
}

func workloads(root string) []workload {
	c := func(name string) string { return filepath.Join(root, "bench/realworld/connectors", name) }
	return []workload{
		{"add-property", []string{filepath.Join(root, "bench/connectors/add-property")}},
		{"user-agent", []string{c("user-agent")}},
		{"flatten", []string{c("flatten")}},
		{"property-filter", []string{c("property-filter")}},
		{"url-normalizer", []string{c("url-normalizer")}},
		{"taxonomy", []string{c("taxonomy")}},
		{"hash", []string{c("hash")}},
		{"chain: filter → flatten → url", []string{c("property-filter"), c("flatten"), c("url-normalizer")}},
	}
}

// result is one workload measured by one runtime.
type result struct {
	EventsPerSec float64
	CPUPerMillon float64
	EventsOut    int
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "connbench:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 200_000, "events per run")
	hogtail := flag.String("hogtail", "", "hogtail binary")
	node := flag.String("node", "node", "node binary")
	root := flag.String("root", ".", "the hogtail repository")
	only := flag.String("only", "", "comma-separated workload names, or the part before \":\" (\"chain\"); default: all")
	flag.Parse()
	if *hogtail == "" {
		return errors.New("give -hogtail")
	}
	tmp, err := os.MkdirTemp("", "connbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// hogtail's rate comes from two runs, n and n/10 events, so that
	// process start and compilation cancel out; Node times its loop only.
	small := max(*n/10, 1)
	big, little := filepath.Join(tmp, "events.jsonl"), filepath.Join(tmp, "events-small.jsonl")
	if err := realworld.WriteEvents(big, *n); err != nil {
		return err
	}
	if err := realworld.WriteEvents(little, small); err != nil {
		return err
	}
	fmt.Printf("Run %s UTC, %d events (%d for hogtail's start-up run), load average at start %s, node %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04"), *n, small, loadAvg(), nodeVersion(*node))
	fmt.Println("| connector | hogtail ev/s | hogtail CPU s / 1M | Node ev/s | Node CPU s / 1M | hogtail ÷ Node (ev/s) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	var logSum float64
	var count int
	for _, w := range workloads(*root) {
		if !selected(*only, w.name) {
			continue
		}
		h, err := runHogtail(*hogtail, w.dirs, big, little, *n, small)
		if err != nil {
			return fmt.Errorf("%s: hogtail: %w", w.name, err)
		}
		nd, err := runNode(*node, filepath.Join(*root, "bench/connbench/node-runner.js"), w.dirs, big, tmp)
		if err != nil {
			return fmt.Errorf("%s: node: %w", w.name, err)
		}
		if h.EventsOut != nd.EventsOut {
			fmt.Fprintf(os.Stderr, "%s: hogtail output %d events, Node %d\n", w.name, h.EventsOut, nd.EventsOut)
		}
		ratio := h.EventsPerSec / nd.EventsPerSec
		if w.name != "add-property" {
			logSum += math.Log(ratio)
			count++
		}
		fmt.Printf("| %s | %.0f | %.2f | %.0f | %.2f | %.2f× |\n", w.name, h.EventsPerSec, h.CPUPerMillon, nd.EventsPerSec, nd.CPUPerMillon, ratio)
	}
	if count > 0 {
		fmt.Printf("\nGeometric mean of hogtail ÷ Node over the real-world rows: %.2f×\n", math.Exp(logSum/float64(count)))
	}
	return nil
}

// runHogtail runs `hogtail test` on both event files and returns the rate
// of the difference.
func runHogtail(bin string, dirs []string, big, little string, n, small int) (result, error) {
	wallBig, cpuBig, out, err := hogtailTest(bin, dirs, big)
	if err != nil {
		return result{}, err
	}
	wallSmall, cpuSmall, _, err := hogtailTest(bin, dirs, little)
	if err != nil {
		return result{}, err
	}
	d := float64(n - small)
	return result{
		EventsPerSec: d / (wallBig - wallSmall).Seconds(),
		CPUPerMillon: (cpuBig - cpuSmall).Seconds() / d * 1e6,
		EventsOut:    out,
	}, nil
}

func hogtailTest(bin string, dirs []string, events string) (wall, cpu time.Duration, out int, err error) {
	in, err := os.Open(events)
	if err != nil {
		return 0, 0, 0, err
	}
	defer in.Close()
	cmd := exec.Command(bin, append([]string{"test"}, dirs...)...)
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	out, cerr := countLines(stdout)
	if err := cmd.Wait(); err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %s", err, tail(stderr.String()))
	}
	if cerr != nil {
		return 0, 0, 0, cerr
	}
	wall = time.Since(start)
	st := cmd.ProcessState
	return wall, st.UserTime() + st.SystemTime(), out, nil
}

func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			n++
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
	}
}

// runNode bundles each connector to CommonJS with esbuild (crypto and url
// left to the host, as PostHog provides them) and runs node-runner.js.
func runNode(bin, runner string, dirs []string, events, tmp string) (result, error) {
	args := []string{runner, events}
	for i, d := range dirs {
		code, err := bundle(d)
		if err != nil {
			return result{}, err
		}
		cfg, err := defaults(d)
		if err != nil {
			return result{}, err
		}
		bp, cp := filepath.Join(tmp, fmt.Sprintf("bundle-%d.js", i)), filepath.Join(tmp, fmt.Sprintf("config-%d.json", i))
		if err := os.WriteFile(bp, code, 0o644); err != nil {
			return result{}, err
		}
		if err := os.WriteFile(cp, cfg, 0o644); err != nil {
			return result{}, err
		}
		args = append(args, bp+":"+cp)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("%w: %s", err, tail(stderr.String()))
	}
	var r struct {
		In      int     `json:"events_in"`
		Out     int     `json:"events_out"`
		Seconds float64 `json:"seconds"`
		CPU     float64 `json:"cpu_seconds"`
	}
	if err := json.Unmarshal(outb, &r); err != nil {
		return result{}, fmt.Errorf("runner output %q: %w", outb, err)
	}
	return result{EventsPerSec: float64(r.In) / r.Seconds, CPUPerMillon: r.CPU / float64(r.In) * 1e6, EventsOut: r.Out}, nil
}

func bundle(dir string) ([]byte, error) {
	var pj struct {
		Main string `json:"main"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &pj); err != nil {
		return nil, fmt.Errorf("%s/plugin.json: %w", dir, err)
	}
	if pj.Main == "" {
		pj.Main = "index.js"
	}
	res := api.Build(api.BuildOptions{
		EntryPoints: []string{filepath.Join(dir, pj.Main)},
		Bundle:      true,
		Format:      api.FormatCommonJS,
		Platform:    api.PlatformNode,
		Target:      api.ES2020,
		External:    []string{"crypto", "url", "@posthog/plugin-scaffold", "node-fetch"},
		// A plugin may declare processEvent as a bare top-level function
		// without exporting it; bundling must not drop it as unused.
		TreeShaking: api.TreeShakingFalse,
		Write:       false,
	})
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("esbuild %s: %s", dir, res.Errors[0].Text)
	}
	return res.OutputFiles[0].Contents, nil
}

// defaults returns meta.config for a connector: plugin.json's defaults.
func defaults(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		return nil, err
	}
	var pj struct {
		Config []struct {
			Key     string `json:"key"`
			Default any    `json:"default"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &pj); err != nil {
		return nil, err
	}
	cfg := map[string]any{}
	for _, c := range pj.Config {
		if c.Key != "" && c.Default != nil {
			cfg[c.Key] = c.Default
		}
	}
	return json.Marshal(cfg)
}

// selected reports whether the -only list (empty: all) names a workload,
// by its whole name or the part before ":" ("chain").
func selected(only, name string) bool {
	if only == "" {
		return true
	}
	short, _, _ := strings.Cut(name, ":")
	list := strings.Split(only, ",")
	return contains(list, name) || contains(list, short)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func nodeVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
