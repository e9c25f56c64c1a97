package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/bench/realworld"
	"github.com/hogtail/hogtail/transforms/connectors"
)

// TestSameOutputAsNode runs every workload of the benchmark in hogtail (the
// code of `hogtail test`) and in node-runner.js on the same events and
// compares the resulting events: the benchmark compares equal work, and
// hogtail runs these PostHog-style connectors as Node does.
func TestSameOutputAsNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	events := filepath.Join(tmp, "events.jsonl")
	if err := realworld.WriteEvents(events, 300); err != nil {
		t.Fatal(err)
	}
	for wi, w := range workloads(root) {
		t.Run(w.name, func(t *testing.T) {
			in, err := os.Open(events)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var hog, hogErr bytes.Buffer
			if err := connectors.RunTest(context.Background(), w.dirs, connectors.TestOptions{}, in, &hog, &hogErr); err != nil {
				t.Fatalf("hogtail: %v\n%s", err, hogErr.String())
			}
			args := []string{filepath.Join(root, "bench/connbench/node-runner.js"), "--print", events}
			for i, d := range w.dirs {
				code, err := bundle(d)
				if err != nil {
					t.Fatal(err)
				}
				cfg, err := defaults(d)
				if err != nil {
					t.Fatal(err)
				}
				bp := filepath.Join(tmp, fmt.Sprintf("w%d-%d.js", wi, i))
				cp := bp + ".json"
				if err := os.WriteFile(bp, code, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cp, cfg, 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, bp+":"+cp)
			}
			cmd := exec.Command(node, args...)
			var nodeErr bytes.Buffer
			cmd.Stderr = &nodeErr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, nodeErr.String())
			}
			h, n := lines(hog.String()), lines(string(out))
			if len(h) != len(n) {
				t.Fatalf("hogtail gave %d events, Node %d", len(h), len(n))
			}
			for i := range h {
				var a, b map[string]any
				if err := json.Unmarshal([]byte(h[i]), &a); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(n[i]), &b); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("event %d differs:\nhogtail: %s\nnode:    %s", i, h[i], n[i])
				}
			}
		})
	}
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
