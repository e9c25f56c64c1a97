package main

import (
	_ "embed"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed peers/fluent-bit.conf.tmpl
var fluentBitConf string

//go:embed peers/add-field.lua
var fluentBitLua string

var fluentBitTmpl = template.Must(template.New("fluent-bit.conf").Parse(fluentBitConf))

// FluentBit is Fluent Bit v4 from its release tarball (../shared/peers),
// with filesystem storage and Retry_Limit False: its at-least-once
// configuration. peers/fluent-bit.conf.tmpl says why each setting is what
// it is.
type FluentBit struct {
	Bin string // bin/fluent-bit of the unpacked tarball
	// SyncFull sets storage.sync full and DB.sync full: the rows compared
	// with hogtail's fsync per commit (equal durability). Such a shipper
	// runs only tail and syslog-tcp.
	SyncFull bool
}

// Name implements Shipper.
func (f FluentBit) Name() string {
	if f.SyncFull {
		return "fluent-bit sync full"
	}
	return "fluent-bit"
}

// Skip implements Shipper.
func (f FluentBit) Skip(sc Scenario) string {
	switch {
	case f.SyncFull && sc.Name != "tail" && sc.Name != "syslog-tcp":
		return "equal-durability rows cover tail and syslog-tcp"
	case sc.Input == "journal":
		return "its systemd input is not in the release build here"
	case sc.Reload:
		return "no connector to edit (hogtail-only scenario)"
	case sc.DiskFull:
		return "hogtail-only scenario"
	}
	return ""
}

// NewlineFraming implements framer: Fluent Bit's syslog input has no
// RFC 6587 octet counting.
func (FluentBit) NewlineFraming() bool { return true }

// Prepare implements Shipper.
func (f FluentBit) Prepare(env Env) ([]string, error) {
	u, err := url.Parse(env.HTTPURL)
	if err != nil {
		return nil, err
	}
	lua := filepath.Join(env.Dir, "add-field.lua")
	if err := os.WriteFile(lua, []byte(fluentBitLua), 0o644); err != nil {
		return nil, err
	}
	sync := "normal"
	if f.SyncFull {
		sync = "full"
	}
	data := map[string]any{
		"DataDir": env.DataDir, "StorageSync": sync, "DBSync": sync,
		// parsers.conf ships beside bin/ in the tarball.
		"ParsersFile": filepath.Join(filepath.Dir(filepath.Dir(f.Bin)), "parsers.conf"),
		"Input":       env.Input, "LogFile": env.LogFile, "JS": env.JS, "LuaScript": lua,
		"ReceiverHost": u.Hostname(), "ReceiverPort": u.Port(),
	}
	if env.ListenAddr != "" {
		data["ListenHost"], data["ListenPort"] = splitAddr(env.ListenAddr)
	}
	var b strings.Builder
	if err := fluentBitTmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("fluent-bit config: %w", err)
	}
	conf := filepath.Join(env.Dir, "fluent-bit.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []string{f.Bin, "-c", conf}, nil
}

// framer is implemented by shippers whose syslog TCP input needs newline
// framing instead of RFC 6587 octet counting.
type framer interface{ NewlineFraming() bool }
