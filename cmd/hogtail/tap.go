package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"

	"github.com/hogtail/hogtail/agent/config"
)

func cmdTap(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("tap", "Streams the events leaving a source or transform of a running agent, as JSON\nlines, through its API. Costs nothing while nobody taps.", stderr)
	name := fs.String("component", "", "source or transform to watch (required)")
	limit := fs.Int("limit", 0, "stop after this many events (0: until interrupted)")
	api := fs.String("api", "", "API address of the agent (default: [api] address of --config)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *name == "" {
		fmt.Fprintln(stderr, "hogtail tap: --component is required")
		return 2
	}
	addr := *api
	if addr == "" {
		cfg, err := config.Load(*path, components())
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		addr = cfg.API.Address
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	u := url.URL{Scheme: "http", Host: addr, Path: "/tap", RawQuery: url.Values{"component": {*name}, "limit": {strconv.Itoa(*limit)}}.Encode()}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "hogtail tap: cannot reach the agent API at %s: %v\n", addr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fmt.Fprintf(stderr, "hogtail tap: %s: %s", resp.Status, msg)
		return 1
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		w.Write(sc.Bytes())
		w.WriteByte('\n')
		w.Flush()
	}
	return 0
}
