package main

import (
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/sinks/console"
	"github.com/hogtail/hogtail/sources/demo"
	"github.com/hogtail/hogtail/sources/stdin"
)

// components is the list of every component hogtail ships, one line each.
func components() *component.Registry {
	return component.NewRegistry().
		AddSource(demo.NewFactory()).
		AddSource(stdin.NewFactory()).
		AddSink(console.NewFactory())
}
