// Package syslogsource implements the syslog source (TOML type "syslog"):
// RFC 5424 and RFC 3164 messages over UDP, TCP, TLS or a unix datagram
// socket, parsed with github.com/leodido/go-syslog/v4.
//
// The package is not called syslog so that it does not clash with go-syslog's
// own package name.
package syslogsource

import (
	_ "embed"

	"github.com/hogtail/hogtail/agent/component"
)

//go:embed sample.toml
var sample string

// NewFactory returns the factory of the syslog source.
func NewFactory() component.SourceFactory {
	return component.NewSourceFactory("syslog", sample, defaultConfig, newSource)
}
