// Package httpsource implements the http source (TOML type "http"): a
// PostHog-capture-compatible HTTP endpoint (posthog-js and posthog-node can
// use hogtail as their host) plus a generic JSON / NDJSON endpoint.
//
// The package is not called http so that it does not shadow net/http.
package httpsource

import (
	_ "embed"

	"github.com/hogtail/hogtail/agent/component"
)

//go:embed sample.toml
var sample string

// NewFactory returns the factory of the http source.
func NewFactory() component.SourceFactory {
	return component.NewSourceFactory("http", sample, defaultConfig, create)
}
