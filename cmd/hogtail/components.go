package main

import (
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/sinks/console"
	httpsink "github.com/hogtail/hogtail/sinks/http"
	"github.com/hogtail/hogtail/sinks/kafka"
	"github.com/hogtail/hogtail/sinks/posthog"
	"github.com/hogtail/hogtail/sinks/webhook"
	"github.com/hogtail/hogtail/sources/demo"
	"github.com/hogtail/hogtail/sources/file"
	httpsource "github.com/hogtail/hogtail/sources/http"
	"github.com/hogtail/hogtail/sources/journald"
	"github.com/hogtail/hogtail/sources/stdin"
	syslogsource "github.com/hogtail/hogtail/sources/syslog"
	"github.com/hogtail/hogtail/transforms/connectors"
)

// components is the list of every component hogtail ships, one line each.
func components() *component.Registry {
	return component.NewRegistry().
		AddSource(demo.NewFactory()).
		AddSource(file.NewFactory()).
		AddSource(httpsource.NewFactory()).
		AddSource(journald.NewFactory()).
		AddSource(stdin.NewFactory()).
		AddSource(syslogsource.NewFactory()).
		AddTransform(connectors.NewFactory()).
		AddSink(console.NewFactory()).
		AddSink(httpsink.NewFactory()).
		AddSink(kafka.NewFactory()).
		AddSink(posthog.NewFactory()).
		AddSink(webhook.NewFactory())
}
