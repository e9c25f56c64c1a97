package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Env is what a shipper's config is generated from, for one scenario run.
type Env struct {
	Dir        string // the run's temp dir
	DataDir    string // state: buffer, persist file, work directory
	LogFile    string // the file tailed (file input)
	Input      string // "file", "tcp" or "udp"
	ListenAddr string // syslog listen address (tcp, udp)
	HTTPURL    string // receiver
	TCPAddr    string // receiver, newline-framed (rsyslog)
	JS         bool   // add one property per event
	Connector  string // connector folder (hogtail, JS)
	SmallQueue bool   // a small queue, so the buffer fills (disk-full)
	HotReload  bool
	APIAddr    string // hogtail's API (pprof) address ("" = API off)
	JournalDir string // journal files (journal input)
}

// Shipper generates a config and a command line for one log shipper.
type Shipper interface {
	Name() string
	// Skip says why the shipper cannot run sc ("" = it can).
	Skip(sc Scenario) string
	// Prepare writes the config and returns the command line.
	Prepare(env Env) ([]string, error)
}

// Hogtail is the shipper under test.
type Hogtail struct {
	Bin    string
	NoSync bool   // buffer.sync = false (not durable against power loss)
	Codec  string // file source codec ("" = text, json where a connector runs)
	// SourceExtra and SinkExtra are TOML lines added to the source and sink
	// tables (tuning experiments; the committed figures use none).
	SourceExtra, SinkExtra string
}

// Name implements Shipper.
func (Hogtail) Name() string { return "hogtail" }

// Skip implements Shipper.
func (Hogtail) Skip(sc Scenario) string {
	if sc.Input == "journal" {
		return journalSkip()
	}
	return ""
}

// Prepare implements Shipper.
func (h Hogtail) Prepare(env Env) ([]string, error) {
	var b strings.Builder
	api := "enabled = false"
	if env.APIAddr != "" {
		api = fmt.Sprintf("enabled = true\naddress = %q\npprof = true", env.APIAddr)
	}
	fmt.Fprintf(&b, "data_dir = %q\nshutdown_timeout = \"5s\"\nlog_level = \"warn\"\n\n[api]\n%s\n\n[buffer]\nsync = %v\n\n", env.DataDir, api, !h.NoSync)
	switch env.Input {
	case "file":
		// The glob matches rotated names too: hogtail follows renamed files
		// and the copies of copytruncate by identity (sources/file README).
		// Like the peers: a plain tail forwards the line (text codec, the
		// line in properties.message); the connector scenarios parse it
		// (json codec), as syslog-ng's json-parser does in tail-js.
		codec := h.Codec
		if codec == "" {
			codec = "text"
			if env.JS {
				codec = "json"
			}
		}
		fmt.Fprintf(&b, "[sources.in]\ntype = \"file\"\ninclude = [%q]\ncodec = %q\nread_from = \"beginning\"\n%s\n\n", env.LogFile+"*", codec, h.SourceExtra)
	case "tcp", "udp":
		fmt.Fprintf(&b, "[sources.in]\ntype = \"syslog\"\nmode = %q\naddress = %q\nreceive_buffer_bytes = 4194304\n%s\n\n", env.Input, env.ListenAddr, h.SourceExtra)
	case "http":
		// The PostHog capture endpoints (/batch/ and the others), no
		// generic path.
		fmt.Fprintf(&b, "[sources.in]\ntype = \"http\"\naddress = %q\npath = \"\"\ncapture = true\n%s\n\n", env.ListenAddr, h.SourceExtra)
	case "journal":
		fmt.Fprintf(&b, "[sources.in]\ntype = \"journald\"\njournal_directory = %q\n%s\n\n", env.JournalDir, h.SourceExtra)
	default:
		return nil, fmt.Errorf("hogtail: input %q", env.Input)
	}
	input := "in"
	if env.JS {
		fmt.Fprintf(&b, "[transforms.js]\ntype = \"connectors\"\ninputs = [\"in\"]\nhot_reload = %v\npoll_interval = \"1s\"\n\n[[transforms.js.chain]]\npath = %q\n\n", env.HotReload, env.Connector)
		input = "js"
	}
	maxSize := "1GiB"
	if env.SmallQueue {
		// Larger than the small filesystem: the disk fills before the queue.
		maxSize = "4GiB"
	}
	fmt.Fprintf(&b, `[sinks.out]
type = "http"
inputs = [%q]
url = %q
encoding = "ndjson"
batch_max_events = 1000
batch_timeout = "100ms"
concurrency = 2
timeout = "10s"
buffer.max_size = %q
buffer.when_full = "block"
retry.initial_interval = "100ms"
retry.max_interval = "1s"
%s
`, input, env.HTTPURL+"/ingest", maxSize, h.SinkExtra)
	conf := filepath.Join(env.Dir, "hogtail.toml")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []string{h.Bin, "run", "--config", conf}, nil
}

// SyslogNG is syslog-ng 3.38 from Debian (syslog-ng-core, syslog-ng-mod-http).
type SyslogNG struct {
	Bin string
	// DiskBuffer gives the http() destination a reliable disk-buffer(),
	// syslog-ng's durable queue (the suite runs it with memory queues).
	DiskBuffer bool
	// Reliable is the equal-durability shipper: disk-buffer(reliable(yes)),
	// run for tail and syslog-tcp only, beside the memory-queue one.
	Reliable bool
	// JSON is the equal-output shipper of syslog-tcp: each message goes out
	// as the event hogtail sends (uuid, event, distinct_id, timestamp and
	// the same properties, with format-json) instead of the bare message,
	// through memory queues.
	JSON bool
}

// jsonEventBody is the body of the equal-output shipper: the fields of
// hogtail's syslog event (sources/syslog/README.md, "Event mapping").
const jsonEventBody = `"$(format-json uuid=${UNIQID} event=syslog distinct_id=${HOST} timestamp=${ISODATE}` +
	` properties.facility=${FACILITY} properties.facility_code=int(${FACILITY_NUM})` +
	` properties.severity=${LEVEL} properties.severity_code=int(${LEVEL_NUM})` +
	` properties.hostname=${HOST} properties.appname=${PROGRAM} properties.procid=${PID}` +
	` properties.message=${MESSAGE} properties.syslog_format=rfc5424 properties.peer=${SOURCEIP}` +
	` properties.host=${HOST_FROM})"`

// Name implements Shipper.
func (s SyslogNG) Name() string {
	switch {
	case s.Reliable:
		return "syslog-ng disk-buffer"
	case s.JSON:
		return "syslog-ng json"
	}
	return "syslog-ng"
}

// Skip implements Shipper.
func (s SyslogNG) Skip(sc Scenario) string {
	switch {
	case s.Reliable && sc.Name != "tail" && sc.Name != "syslog-tcp":
		return "equal-durability rows cover tail and syslog-tcp"
	case s.JSON && sc.Name != "syslog-tcp":
		return "the equal-output row covers syslog-tcp"
	case sc.Input == "http":
		return "syslog-ng 3.38 has no HTTP source (its http() is a destination only)"
	case sc.Input == "journal":
		return "its systemd-journal() source reads only the system journal, not a directory of journal files"
	case sc.Reload:
		return "no connector to edit (hogtail-only scenario)"
	case sc.DiskFull:
		return "runs with memory queues here (no disk-buffer() configured): hogtail-only scenario"
	}
	return ""
}

// Prepare implements Shipper.
func (s SyslogNG) Prepare(env Env) ([]string, error) {
	var b strings.Builder
	b.WriteString("@version: 3.38\n")
	uniqid := ""
	if s.JSON {
		uniqid = " use-uniqid(yes);" // ${UNIQID}, the events' uuid
	}
	fmt.Fprintf(&b, "options { stats-freq(0); keep-hostname(yes); time-reopen(1); log-fifo-size(100000);%s };\n", uniqid)
	switch env.Input {
	case "file":
		fmt.Fprintf(&b, "source s_in { file(%q follow-freq(1) flags(no-parse) log-iw-size(100000) log-fetch-limit(1000)); };\n", env.LogFile)
	case "tcp":
		host, port := splitAddr(env.ListenAddr)
		fmt.Fprintf(&b, "source s_in { syslog(transport(\"tcp\") ip(%q) port(%s) log-iw-size(100000) log-fetch-limit(1000)); };\n", host, port)
	case "udp":
		host, port := splitAddr(env.ListenAddr)
		fmt.Fprintf(&b, "source s_in { syslog(transport(\"udp\") ip(%q) port(%s) so-rcvbuf(4194304)); };\n", host, port)
	}
	body := `"${MESSAGE}"`
	if s.JSON {
		body = jsonEventBody
	}
	if env.JS {
		b.WriteString("parser p_json { json-parser(prefix(\".json.\")); };\n")
		b.WriteString("rewrite r_add { set(\"syslog-ng\" value(\".json.shipper\")); };\n")
		body = `"$(format-json --key .json.* --shift-levels 1)"`
	}
	fmt.Fprintf(&b, `destination d_out { http(url(%q) method("POST") headers("Content-Type: application/x-ndjson")
  body(%s) delimiter("\n") batch-lines(1000) batch-bytes(4MiB) batch-timeout(100) workers(2)
  retries(1000000) time-reopen(1)%s); };
`, env.HTTPURL+"/ingest", body, s.diskBuffer(env))
	b.WriteString("log { source(s_in); ")
	if env.JS {
		b.WriteString("parser(p_json); rewrite(r_add); ")
	}
	if env.Input == "udp" {
		// A UDP sender cannot be slowed down: no flow control.
		b.WriteString("destination(d_out); };\n")
	} else {
		b.WriteString("destination(d_out); flags(flow-control); };\n")
	}
	conf := filepath.Join(env.Dir, "syslog-ng.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []string{s.Bin, "-F", "--no-caps", "-f", conf,
		"-R", filepath.Join(env.DataDir, "syslog-ng.persist"),
		"-p", filepath.Join(env.DataDir, "syslog-ng.pid"),
		"-c", filepath.Join(env.DataDir, "syslog-ng.ctl")}, nil
}

func (s SyslogNG) diskBuffer(env Env) string {
	if !s.DiskBuffer && !s.Reliable {
		return ""
	}
	return fmt.Sprintf("\n  disk-buffer(reliable(yes) dir(%q) disk-buf-size(1073741824))", env.DataDir)
}

// Rsyslog is Debian's rsyslog run from an unpacked .deb (it conflicts with
// syslog-ng as a package). It has no omhttp: it delivers with omfwd over
// TCP, newline-framed, to the receiver's TCP port.
type Rsyslog struct {
	Root string // where the .deb was unpacked
}

// Name implements Shipper.
func (Rsyslog) Name() string { return "rsyslog" }

// Skip implements Shipper.
func (Rsyslog) Skip(sc Scenario) string {
	switch {
	case sc.Input == "journal":
		return "its imjournal module reads only the system journal, not a directory of journal files"
	case sc.Input == "http":
		return "Debian's rsyslog package has no imhttp input"
	case sc.Reload:
		return "no connector to edit (hogtail-only scenario)"
	case sc.DiskFull:
		return "runs with memory queues here: hogtail-only scenario"
	case sc.Fail503 > 0:
		return "no HTTP output in Debian's rsyslog (omfwd TCP cannot be answered 503)"
	}
	return ""
}

func (r Rsyslog) modDir() string { return filepath.Join(r.Root, "usr/lib/x86_64-linux-gnu/rsyslog") }

// Prepare implements Shipper.
func (r Rsyslog) Prepare(env Env) ([]string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "global(workDirectory=%q maxMessageSize=\"64k\")\n", env.DataDir)
	b.WriteString("main_queue(queue.type=\"LinkedList\" queue.size=\"100000\")\n")
	switch env.Input {
	case "file":
		b.WriteString("module(load=\"imfile\" mode=\"inotify\")\n")
		fmt.Fprintf(&b, "input(type=\"imfile\" File=%q Tag=\"app\" ruleset=\"out\" reopenOnTruncate=\"on\")\n", env.LogFile)
	case "tcp":
		host, port := splitAddr(env.ListenAddr)
		b.WriteString("module(load=\"imtcp\")\n")
		fmt.Fprintf(&b, "input(type=\"imtcp\" address=%q port=%q ruleset=\"out\")\n", host, port)
	case "udp":
		host, port := splitAddr(env.ListenAddr)
		b.WriteString("module(load=\"imudp\")\n")
		fmt.Fprintf(&b, "input(type=\"imudp\" address=%q port=%q rcvbufSize=\"4m\" ruleset=\"out\")\n", host, port)
	}
	tmpl := "raw"
	b.WriteString("template(name=\"raw\" type=\"string\" string=\"%msg%\\n\")\n")
	if env.JS {
		b.WriteString("module(load=\"mmjsonparse\")\n")
		b.WriteString("template(name=\"json\" type=\"string\" string=\"%$!all-json-plain%\\n\")\n")
		tmpl = "json"
	}
	host, port := splitAddr(env.TCPAddr)
	b.WriteString("ruleset(name=\"out\") {\n")
	if env.JS {
		b.WriteString("  action(type=\"mmjsonparse\" cookie=\"\")\n  set $!shipper = \"rsyslog\";\n")
	}
	fmt.Fprintf(&b, "  action(type=\"omfwd\" target=%q port=%q protocol=\"tcp\" template=%q action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\")\n}\n", host, port, tmpl)
	conf := filepath.Join(env.Dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []string{filepath.Join(r.Root, "usr/sbin/rsyslogd"), "-n", "-M", r.modDir(), "-f", conf,
		"-i", filepath.Join(env.DataDir, "rsyslog.pid")}, nil
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
