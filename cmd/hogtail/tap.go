package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"

	"github.com/hogtail/hogtail/agent/config"
)

// tokenEnv names the environment variable hogtail tap reads the API token
// from when --token is not given.
const tokenEnv = "HOGTAIL_API_TOKEN"

func cmdTap(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("tap", "Streams the events leaving a source or transform of a running agent, as JSON\nlines, through its API (which needs api.tap = true). Costs nothing while nobody taps.", stderr)
	name := fs.String("component", "", "source or transform to watch (required)")
	limit := fs.Int("limit", 0, "stop after this many events (0: until interrupted)")
	api := fs.String("api", "", "API address of the agent (default: [api] address of --config)")
	token := fs.String("token", "", "API bearer token (default: $"+tokenEnv+", else [api] auth_token of --config)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *name == "" {
		fmt.Fprintln(stderr, "hogtail tap: --component is required")
		return 2
	}
	addr, tok := *api, *token
	if tok == "" {
		tok = os.Getenv(tokenEnv)
	}
	if addr == "" || tok == "" {
		cfg, err := config.LoadSettings(*path) // the API's address and token only
		switch {
		case err == nil:
			if addr == "" {
				addr = cfg.API.Address
			}
			if tok == "" {
				tok = cfg.API.AuthToken
			}
		case addr == "" || flagSet(fs, "config") || !missingFile(*path):
			// The config is needed for the address, or was asked for.
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	u := url.URL{Scheme: "http", Host: dialable(addr), Path: "/tap", RawQuery: url.Values{"component": {*name}, "limit": {strconv.Itoa(*limit)}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(stderr, "hogtail tap: bad API address %q: %v\n", addr, err)
		return 2
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "hogtail tap: cannot reach the agent API at %s: %v\n", addr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fmt.Fprintf(stderr, "hogtail tap: %s: %s", resp.Status, msg)
		if resp.StatusCode == http.StatusUnauthorized {
			fmt.Fprintf(stderr, "hogtail tap: the agent requires its api.auth_token: pass --token, set %s, or point --config at the agent's config\n", tokenEnv)
		}
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
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "hogtail tap: reading the stream: %v\n", err)
		return 1
	}
	return 0
}

// dialable turns a listen address on every interface (":8686",
// "0.0.0.0:8686") into the loopback address of the same port.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		if ip.Is6() {
			return net.JoinHostPort("::1", port)
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// missingFile reports whether path does not exist.
func missingFile(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}
