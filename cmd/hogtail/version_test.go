package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.27.3",
		Main:      debug.Module{Path: "github.com/hogtail/hogtail", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name  string
		stamp buildStamp
		bi    *debug.BuildInfo
		want  string
	}{
		{"stamped", buildStamp{"1.2.3", "feedbeef", "2026-12-06T19:00:00Z"}, vcs,
			"hogtail 1.2.3 (commit feedbeef, built 2026-12-06T19:00:00Z, go1.27.3 " + platform + ")"},
		{"vcs fallback", buildStamp{}, vcs,
			"hogtail dev (commit 0123abcd-dirty, built 2026-12-01T10:00:00Z, go1.27.3 " + platform + ")"},
		{"module version", buildStamp{}, &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v0.4.0"}},
			"hogtail v0.4.0 (commit unknown, built unknown, go1.27.3 " + platform + ")"},
		{"no build info", buildStamp{}, nil,
			"hogtail dev (commit unknown, built unknown, " + runtime.Version() + " " + platform + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionLine(tc.stamp, tc.bi); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
