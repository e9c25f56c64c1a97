package main

import (
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hogtail/hogtail/agent/config"
	httpsource "github.com/hogtail/hogtail/sources/http"
	syslogsource "github.com/hogtail/hogtail/sources/syslog"
)

// logNextSteps logs, once the agent runs, one line saying how to watch
// events flow through this config: the API, `hogtail tap`, and a command
// that feeds each listening source. Everything in it comes from the config
// (and apiAddr, the address the API actually bound); a component the config
// lacks gets no hint.
func logNextSteps(log *slog.Logger, cfg *config.Config, configPath, apiAddr string) {
	attrs := nextSteps(cfg, configPath, apiAddr)
	if len(attrs) == 0 {
		return
	}
	log.Info("running; to see events flow, try", attrs...)
}

func nextSteps(cfg *config.Config, configPath, apiAddr string) []any {
	var attrs []any
	if host, port, ok := reachable(apiAddr); cfg.API.Enabled && ok {
		base := "http://" + net.JoinHostPort(host, port)
		metrics := base + "/metrics"
		if cfg.API.AuthToken != "" {
			metrics = "curl -H 'Authorization: Bearer <api.auth_token>' " + metrics
		}
		attrs = append(attrs, "health", base+"/health", "metrics", metrics)
		if name := tapTarget(cfg); name != "" && cfg.API.Tap {
			tap := "hogtail tap --component " + name
			if apiAddr != cfg.API.Address { // a port chosen by the system
				tap += " --api " + apiAddr
			}
			if configPath != config.DefaultPath {
				tap += " --config " + configPath
			}
			attrs = append(attrs, "tap", tap)
		} else if name != "" {
			attrs = append(attrs, "tap", "set [api] tap = true to watch events with hogtail tap")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Sources)) {
		if hint := sendHint(cfg.Sources[name].Config, cfg.Dir); hint != "" {
			attrs = append(attrs, "send_to."+name, hint)
		}
	}
	return attrs
}

// tapTarget is the component whose events are the most telling to watch:
// the first transform (events after the connectors), else the first source.
func tapTarget(cfg *config.Config) string {
	if t := slices.Sorted(maps.Keys(cfg.Transforms)); len(t) > 0 {
		return t[0]
	}
	if s := slices.Sorted(maps.Keys(cfg.Sources)); len(s) > 0 {
		return s[0]
	}
	return ""
}

// sendHint is a command line that sends one message to a source, or "" for
// a source nobody sends to (files are written by applications) or that
// listens on a port the system chooses.
func sendHint(c any, configDir string) string {
	switch c := c.(type) {
	case *syslogsource.Config:
		switch c.Mode {
		case syslogsource.ModeUDP, syslogsource.ModeTCP:
			host, port, ok := reachable(c.Address)
			if !ok {
				return ""
			}
			flag := "--udp"
			if c.Mode == syslogsource.ModeTCP {
				flag = "--tcp"
			}
			return "logger -n " + host + " -P " + port + " " + flag + " hello from logger"
		case syslogsource.ModeUnix:
			path := c.Path
			if !filepath.IsAbs(path) {
				path = filepath.Join(configDir, path)
			}
			return "logger -u " + path + " -d hello from logger"
		}
		// logger speaks no TLS.
	case *httpsource.Config:
		host, port, ok := reachable(c.Address)
		if !ok {
			return ""
		}
		scheme := "http"
		if c.TLSCertFile != "" {
			scheme = "https"
		}
		base := scheme + "://" + net.JoinHostPort(host, port)
		if c.Capture {
			return "point posthog-js or posthog-node at " + base + " (their api_host)"
		}
		if c.Path != "" {
			auth := ""
			if c.AuthToken != "" {
				auth = "-H 'Authorization: Bearer <auth_token>' "
			}
			return "curl " + auth + "-d '{\"message\":\"hello\"}' " + base + c.Path
		}
	}
	return ""
}

// reachable turns a listen address into one a local client can use.
func reachable(addr string) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" || port == "" {
		return "", "", false
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return host, port, !strings.ContainsAny(host, " '")
}
