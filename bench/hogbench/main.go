// Command hogbench measures hogtail beside syslog-ng and rsyslog on the same
// machine, in the same run, and tries to make each of them lose data: it
// generates load, runs each shipper with a fresh state dir, counts every
// event by its seq at a local receiver, and writes a markdown table, JSON and
// a PNG chart. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Sizes are the knobs of the scenarios (flags), with the figures as
// the full run's defaults.
type Sizes struct {
	N            int // tail, tail-js, syslog-tcp
	TCPConns     int // connections of syslog-tcp
	RotateN      int
	RotateEvery  int
	CopyN        int
	CopyRate     int
	CopyEvery    int
	UDPN         int
	UDPRate      int
	FailN        int
	FailRate     int
	FailFor      time.Duration
	OutageN      int
	OutageRate   int
	OutageFor    time.Duration
	KillN        int
	KillRate     int
	Kills        int
	DiskN        int
	DiskRate     int
	DiskSize     string
	DiskDownFor  time.Duration
	ReloadN      int
	ReloadRate   int
	JournalN     int
	CaptureN     int
	Stall        time.Duration
	ChaosStartAt time.Duration
}

// FullSizes are the sizes.
func FullSizes() Sizes {
	return Sizes{
		N: 1_000_000, TCPConns: 1, RotateN: 1_000_000, RotateEvery: 100_000,
		CopyN: 1_000_000, CopyRate: 50_000, CopyEvery: 100_000,
		UDPN: 500_000, UDPRate: 50_000,
		FailN: 400_000, FailRate: 20_000, FailFor: 10 * time.Second,
		OutageN: 1_400_000, OutageRate: 20_000, OutageFor: 60 * time.Second,
		KillN: 1_000_000, KillRate: 50_000, Kills: 10,
		DiskN: 300_000, DiskRate: 30_000, DiskSize: "24m", DiskDownFor: 10 * time.Second,
		ReloadN: 300_000, ReloadRate: 20_000,
		JournalN: 500_000, CaptureN: 500_000,
		Stall: 15 * time.Second, ChaosStartAt: 2 * time.Second,
	}
}

// SmokeSizes keep every chaos scenario small: all of them together run in
// well under two minutes for hogtail alone.
func SmokeSizes() Sizes {
	return Sizes{
		N: 30_000, TCPConns: 1, RotateN: 60_000, RotateEvery: 10_000,
		CopyN: 30_000, CopyRate: 20_000, CopyEvery: 10_000,
		UDPN: 10_000, UDPRate: 10_000,
		FailN: 20_000, FailRate: 10_000, FailFor: 1500 * time.Millisecond,
		OutageN: 20_000, OutageRate: 10_000, OutageFor: 2 * time.Second,
		KillN: 60_000, KillRate: 10_000, Kills: 3,
		DiskN: 40_000, DiskRate: 20_000, DiskSize: "4m", DiskDownFor: 2 * time.Second,
		ReloadN: 20_000, ReloadRate: 8_000,
		JournalN: 20_000, CaptureN: 20_000,
		Stall: 10 * time.Second, ChaosStartAt: 500 * time.Millisecond,
	}
}

// Scenarios builds every scenario from sizes, in table order.
func Scenarios(s Sizes) []Scenario {
	return []Scenario{
		{Name: "tail", Input: "file", N: s.N, Prewrite: true},
		{Name: "tail-js", Input: "file", N: s.N, Prewrite: true, JS: true},
		{Name: "rotate", Input: "file", N: s.RotateN, Rotation: RenameRotation, RotateEvery: s.RotateEvery},
		{Name: "copytruncate", Input: "file", N: s.CopyN, Rate: s.CopyRate, Rotation: CopyTruncate, RotateEvery: s.CopyEvery},
		{Name: "syslog-tcp", Input: "tcp", N: s.N, Conns: s.TCPConns},
		{Name: "syslog-udp", Input: "udp", N: s.UDPN, Rate: s.UDPRate, LossOK: true},
		{Name: "receiver-503", Input: "file", N: s.FailN, Rate: s.FailRate, Fail503: 0.5, FailAt: s.ChaosStartAt, FailFor: s.FailFor},
		{Name: "outage", Input: "file", N: s.OutageN, Rate: s.OutageRate, DownAt: s.ChaosStartAt, DownFor: s.OutageFor},
		{Name: "kill9", Input: "file", N: s.KillN, Rate: s.KillRate, Kills: s.Kills, KillMin: time.Second, KillMax: 3 * time.Second},
		{Name: "kill9-rotate", Input: "file", N: s.KillN, Rate: s.KillRate, Rotation: RenameRotation, RotateEvery: max(1, s.KillN/10), Kills: s.Kills, KillMin: time.Second, KillMax: 3 * time.Second},
		{Name: "kill9-copytruncate", Input: "file", N: s.KillN, Rate: s.KillRate, Rotation: CopyTruncate, RotateEvery: max(1, s.KillN/10), Kills: s.Kills, KillMin: time.Second, KillMax: 3 * time.Second},
		{Name: "disk-full", Input: "file", N: s.DiskN, Rate: s.DiskRate, DiskFull: true, DiskSize: s.DiskSize, DownAt: s.ChaosStartAt, DownFor: s.DiskDownFor},
		{Name: "reload", Input: "file", N: s.ReloadN, Rate: s.ReloadRate, JS: true, Reload: true},
		{Name: "journald", Input: "journal", N: s.JournalN, Prewrite: true},
		{Name: "http-capture", Input: "http", N: s.CaptureN},
	}
}

// Options are hogbench's command line.
type Options struct {
	Smoke                  bool
	Only                   []string // scenario names; empty = all
	Shippers               []string
	Hogtail                string
	SyslogNG               string
	Rsyslog                string // unpacked rsyslog .deb root ("" = skip rsyslog)
	FluentBit              string // fluent-bit binary of the release tarball ("" = skip Fluent Bit)
	Connector              string
	Out                    string // results directory ("" = none)
	Sizes                  Sizes
	Machine                string
	KeepTemp               bool
	Trace                  bool
	ProfileDir             string
	ProfileFor             time.Duration
	NoSync                 bool
	SyslogNGDiskBuffer     bool
	Codec                  string
	SourceExtra, SinkExtra string
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hogbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hogbench", flag.ContinueOnError)
	var o Options
	full := FullSizes()
	var shippers string
	fs.BoolVar(&o.Smoke, "smoke", false, "hogtail only, small counts, exit non-zero on any loss")
	fs.StringVar(&shippers, "shippers", "hogtail,syslog-ng,rsyslog,fluent-bit,syslog-ng-reliable,fluent-bit-sync-full,syslog-ng-json",
		"shippers to run; syslog-ng-reliable (disk-buffer(reliable(yes))) and fluent-bit-sync-full (storage.sync full) are the equal-durability rows of tail and syslog-tcp; syslog-ng-json (the body is hogtail's event, format-json) is the equal-output row of syslog-tcp")
	fs.StringVar(&o.Hogtail, "hogtail", "hogtail", "hogtail binary")
	fs.StringVar(&o.SyslogNG, "syslog-ng", "syslog-ng", "syslog-ng binary")
	fs.BoolVar(&o.SyslogNGDiskBuffer, "syslog-ng-disk-buffer", false, "give syslog-ng's http() destination a reliable disk-buffer() (comparison only: a durable queue like hogtail's)")
	fs.StringVar(&o.Rsyslog, "rsyslog-root", "", "root of an unpacked rsyslog .deb (empty: rsyslog skipped)")
	fs.StringVar(&o.FluentBit, "fluent-bit", "", "bin/fluent-bit of the unpacked release tarball (empty: Fluent Bit skipped)")
	fs.StringVar(&o.Connector, "connector", "bench/connectors/add-property", "connector of tail-js and reload")
	fs.StringVar(&o.Out, "out", "bench/results", "results directory (empty: print only)")
	fs.StringVar(&o.Machine, "machine", "", "machine description for the results")
	fs.StringVar(&o.ProfileDir, "profile", "", "save a CPU profile, a heap profile and an execution trace of hogtail per scenario into this directory")
	fs.DurationVar(&o.ProfileFor, "profile-for", 5*time.Second, "length of each CPU profile")
	fs.BoolVar(&o.NoSync, "hogtail-nosync", false, "run hogtail with buffer.sync = false (comparison only; the suite's figures use sync = true)")
	fs.StringVar(&o.Codec, "hogtail-codec", "", "codec of hogtail's file source; empty: text (the line as properties.message, like the peers' plain forwarding), json where a connector runs (like the peers' tail-js parsing)")
	fs.StringVar(&o.SourceExtra, "hogtail-source", "", "TOML lines added to hogtail's source table, e.g. 'batch_lines = 5000' (tuning experiments)")
	fs.StringVar(&o.SinkExtra, "hogtail-sink", "", "TOML lines added to hogtail's sink table (tuning experiments)")
	fs.BoolVar(&o.Trace, "trace", false, "log each run's progress every half second")
	fs.BoolVar(&o.KeepTemp, "keep", false, "keep each run's temp dir (configs, shipper logs) for inspection")
	s := &o.Sizes
	fs.IntVar(&s.N, "n", full.N, "events of tail, tail-js and syslog-tcp")
	fs.IntVar(&s.TCPConns, "tcp-conns", full.TCPConns, "TCP connections of syslog-tcp, sending side by side (the messages are split among them)")
	fs.IntVar(&s.RotateN, "rotate-n", full.RotateN, "lines of rotate")
	fs.IntVar(&s.RotateEvery, "rotate-every", full.RotateEvery, "rename rotation every this many lines")
	fs.IntVar(&s.CopyN, "copy-n", full.CopyN, "lines of copytruncate")
	fs.IntVar(&s.CopyRate, "copy-rate", full.CopyRate, "lines/s of copytruncate")
	fs.IntVar(&s.CopyEvery, "copy-every", full.CopyEvery, "copytruncate every this many lines")
	fs.IntVar(&s.UDPN, "udp-n", full.UDPN, "datagrams of syslog-udp")
	fs.IntVar(&s.UDPRate, "udp-rate", full.UDPRate, "datagrams/s of syslog-udp")
	fs.IntVar(&s.FailN, "fail-n", full.FailN, "lines of receiver-503")
	fs.IntVar(&s.FailRate, "fail-rate", full.FailRate, "lines/s of receiver-503")
	fs.DurationVar(&s.FailFor, "fail-for", full.FailFor, "how long the receiver fails half the requests")
	fs.IntVar(&s.OutageN, "outage-n", full.OutageN, "lines of outage")
	fs.IntVar(&s.OutageRate, "outage-rate", full.OutageRate, "lines/s of outage")
	fs.DurationVar(&s.OutageFor, "outage-for", full.OutageFor, "how long the receiver is down")
	fs.IntVar(&s.KillN, "kill-n", full.KillN, "lines of kill9")
	fs.IntVar(&s.KillRate, "kill-rate", full.KillRate, "lines/s of kill9")
	fs.IntVar(&s.Kills, "kills", full.Kills, "SIGKILLs in kill9")
	fs.IntVar(&s.DiskN, "disk-n", full.DiskN, "lines of disk-full")
	fs.IntVar(&s.DiskRate, "disk-rate", full.DiskRate, "lines/s of disk-full")
	fs.StringVar(&s.DiskSize, "disk-size", full.DiskSize, "size of the tmpfs of disk-full")
	fs.DurationVar(&s.DiskDownFor, "disk-down-for", full.DiskDownFor, "how long the receiver is down in disk-full")
	fs.IntVar(&s.ReloadN, "reload-n", full.ReloadN, "lines of reload")
	fs.IntVar(&s.ReloadRate, "reload-rate", full.ReloadRate, "lines/s of reload")
	fs.IntVar(&s.JournalN, "journal-n", full.JournalN, "entries of journald")
	fs.IntVar(&s.CaptureN, "capture-n", full.CaptureN, "events of http-capture (in /batch/ requests of 100)")
	fs.DurationVar(&s.Stall, "stall", full.Stall, "give up on a run after no new event for this long")
	s.ChaosStartAt = full.ChaosStartAt
	var rechart string
	fs.StringVar(&rechart, "rechart", "", "redraw the PNG of a results JSON file (next to it) and exit")
	var rss HTTPRSS
	var httpRSS bool
	fs.BoolVar(&httpRSS, "http-rss", false, "measure hogtail's peak memory on gzipped /batch/ requests of tiny events (see bench/README.md) and exit")
	fs.IntVar(&rss.Events, "http-rss-events", 623_000, "events per -http-rss request")
	fs.IntVar(&rss.Parallel, "http-rss-parallel", 1, "-http-rss requests sent at once")
	fs.StringVar(&rss.Allocs, "http-rss-allocs", "", "save hogtail's allocation profile after the -http-rss requests here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if rechart != "" {
		return redraw(rechart)
	}
	if httpRSS {
		rss.Hogtail, rss.Keep = o.Hogtail, o.KeepTemp
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return rss.Run(ctx, stdout)
	}
	if o.Smoke {
		// Smoke sizes replace the defaults; explicit flags still win.
		smoke := SmokeSizes()
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		o.Sizes = mergeSizes(smoke, o.Sizes, set)
		if !set["shippers"] {
			shippers = "hogtail"
		}
	}
	o.Shippers = splitList(shippers)
	o.Only = fs.Args()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := Bench(ctx, o, func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	})
	if err != nil {
		return err
	}
	table := Markdown(results, o)
	fmt.Fprintln(stdout, table)
	if o.Out != "" {
		if err := WriteResults(o.Out, results, o, table); err != nil {
			return err
		}
	}
	var bad []string
	for _, r := range results {
		if r.Failed() {
			bad = append(bad, fmt.Sprintf("%s: %d lost, %d duplicated under another uuid", r.Scenario, r.Lost, r.DupOtherUUID))
		}
	}
	if len(bad) > 0 {
		return errors.New("hogtail broke a promise: " + strings.Join(bad, "; "))
	}
	return nil
}

func mergeSizes(base, flags Sizes, set map[string]bool) Sizes {
	pick := func(name string, b, f *int) {
		if set[name] {
			*b = *f
		}
	}
	pick("n", &base.N, &flags.N)
	pick("tcp-conns", &base.TCPConns, &flags.TCPConns)
	pick("rotate-n", &base.RotateN, &flags.RotateN)
	pick("rotate-every", &base.RotateEvery, &flags.RotateEvery)
	pick("copy-n", &base.CopyN, &flags.CopyN)
	pick("copy-rate", &base.CopyRate, &flags.CopyRate)
	pick("copy-every", &base.CopyEvery, &flags.CopyEvery)
	pick("udp-n", &base.UDPN, &flags.UDPN)
	pick("udp-rate", &base.UDPRate, &flags.UDPRate)
	pick("fail-n", &base.FailN, &flags.FailN)
	pick("fail-rate", &base.FailRate, &flags.FailRate)
	pick("outage-n", &base.OutageN, &flags.OutageN)
	pick("outage-rate", &base.OutageRate, &flags.OutageRate)
	pick("kill-n", &base.KillN, &flags.KillN)
	pick("kill-rate", &base.KillRate, &flags.KillRate)
	pick("kills", &base.Kills, &flags.Kills)
	pick("disk-n", &base.DiskN, &flags.DiskN)
	pick("disk-rate", &base.DiskRate, &flags.DiskRate)
	pick("reload-n", &base.ReloadN, &flags.ReloadN)
	pick("reload-rate", &base.ReloadRate, &flags.ReloadRate)
	pick("journal-n", &base.JournalN, &flags.JournalN)
	pick("capture-n", &base.CaptureN, &flags.CaptureN)
	if set["fail-for"] {
		base.FailFor = flags.FailFor
	}
	if set["outage-for"] {
		base.OutageFor = flags.OutageFor
	}
	if set["disk-down-for"] {
		base.DiskDownFor = flags.DiskDownFor
	}
	if set["disk-size"] {
		base.DiskSize = flags.DiskSize
	}
	if set["stall"] {
		base.Stall = flags.Stall
	}
	return base
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Bench runs the selected scenarios for the selected shippers.
func Bench(ctx context.Context, o Options, logf func(string, ...any)) ([]Result, error) {
	var shippers []Shipper
	for _, name := range o.Shippers {
		switch name {
		case "hogtail":
			shippers = append(shippers, Hogtail{Bin: o.Hogtail, NoSync: o.NoSync, Codec: o.Codec,
				SourceExtra: o.SourceExtra, SinkExtra: o.SinkExtra})
		case "syslog-ng":
			shippers = append(shippers, SyslogNG{Bin: o.SyslogNG, DiskBuffer: o.SyslogNGDiskBuffer})
		case "syslog-ng-reliable":
			shippers = append(shippers, SyslogNG{Bin: o.SyslogNG, Reliable: true})
		case "syslog-ng-json":
			shippers = append(shippers, SyslogNG{Bin: o.SyslogNG, JSON: true})
		case "fluent-bit", "fluent-bit-sync-full":
			if o.FluentBit == "" {
				logf("%s skipped: no -fluent-bit (the binary of the unpacked release tarball)", name)
				continue
			}
			shippers = append(shippers, FluentBit{Bin: o.FluentBit, SyncFull: name == "fluent-bit-sync-full"})
		case "rsyslog":
			if o.Rsyslog == "" {
				logf("rsyslog skipped: no -rsyslog-root (an unpacked rsyslog .deb)")
				continue
			}
			shippers = append(shippers, Rsyslog{Root: o.Rsyslog})
		default:
			return nil, fmt.Errorf("unknown shipper %q", name)
		}
	}
	connector, err := filepath.Abs(o.Connector)
	if err != nil {
		return nil, err
	}
	rn := &Runner{Stall: o.Sizes.Stall, MaxRun: 10 * time.Minute, Logf: logf, Connector: connector, KeepTemp: o.KeepTemp, Trace: o.Trace,
		ProfileDir: o.ProfileDir, ProfileFor: o.ProfileFor}
	var scenarios []Scenario
	all := Scenarios(o.Sizes)
	if len(o.Only) == 0 {
		scenarios = all
		if o.Smoke {
			// A scenario that fails at random on a known bug would make
			// the smoke run flaky; its deterministic reproduction is a test.
			scenarios = nil
			for _, sc := range all {
				if sc.NotInSmoke != "" {
					logf("%s skipped in the smoke run: %s", sc.Name, sc.NotInSmoke)
					continue
				}
				scenarios = append(scenarios, sc)
			}
		}
	} else {
		for _, name := range o.Only {
			found := false
			for _, sc := range all {
				if sc.Name == name {
					scenarios, found = append(scenarios, sc), true
				}
			}
			if !found {
				return nil, fmt.Errorf("unknown scenario %q", name)
			}
		}
	}
	var results []Result
	for _, sc := range scenarios {
		for _, sh := range shippers {
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
			began := time.Now()
			res, err := rn.Run(ctx, sc, sh)
			if err != nil {
				if ctx.Err() != nil {
					return results, ctx.Err()
				}
				// One shipper failing to start does not stop the others.
				logf("%s/%s: %v", sc.Name, sh.Name(), err)
				res.Lost = res.N
				res.Notes = joinNote(res.Notes, "error: "+firstLine(err.Error()))
			}
			if res.Skipped != "" {
				logf("%-13s %-9s skipped: %s", sc.Name, sh.Name(), res.Skipped)
			} else {
				logf("%-13s %-9s %9.0f ev/s  cpu %6.2fs  rss %6.1fMB (anon %.0f, file %.0f)  lost %d  dup %d (other uuid %d)  ooo %d  runs %d  [%s] %s",
					sc.Name, sh.Name(), res.EventsPerSec, res.CPUSeconds, res.MaxRSSMB, res.MaxAnonMB, res.MaxFileMB, res.Lost, res.Duplicated,
					res.DupOtherUUID, res.OutOfOrder, res.Runs, time.Since(began).Round(100*time.Millisecond), res.Notes)
			}
			results = append(results, res)
		}
	}
	return results, nil
}

// Report is the JSON file.
type Report struct {
	Date     string   `json:"date"`
	Machine  string   `json:"machine"`
	GoArch   string   `json:"goarch"`
	CPUs     int      `json:"cpus"`
	Smoke    bool     `json:"smoke"`
	Sizes    Sizes    `json:"sizes"`
	Results  []Result `json:"results"`
	Receiver string   `json:"receiver"`
}

// WriteResults writes results.md, results.json and results.png into dir.
func WriteResults(dir string, results []Result, o Options, table string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := "results"
	if o.Smoke {
		name = "smoke"
	}
	rep := Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: o.Machine, GoArch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), Smoke: o.Smoke, Sizes: o.Sizes, Results: results,
		Receiver: "hogbench receiver on loopback: HTTP for hogtail and syslog-ng, TCP newline-framed for rsyslog (omfwd)"}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".md"), []byte(table+"\n"), 0o644); err != nil {
		return err
	}
	png, err := Chart(results)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// Markdown renders the results table.
func Markdown(results []Result, o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s UTC", time.Now().UTC().Format("2006-01-02 15:04"))
	if o.Machine != "" {
		fmt.Fprintf(&b, " on %s", o.Machine)
	}
	b.WriteString(".\n\n")
	b.WriteString("| scenario | shipper | events | events/s | CPU s | max RSS MB | lost | duplicated | notes |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | | | | | | | skipped: %s |\n", r.Scenario, r.Shipper, r.Skipped)
			continue
		}
		var notes []string
		if r.Duplicated > 0 {
			if r.Shipper == "hogtail" {
				notes = append(notes, fmt.Sprintf("%d of the duplicates under another uuid", r.DupOtherUUID))
			} else {
				notes = append(notes, "no uuid: duplicates are not deduplicable")
			}
		}
		if r.OutOfOrder > 0 {
			notes = append(notes, fmt.Sprintf("%d out of order", r.OutOfOrder))
		}
		if r.Runs > 1 {
			notes = append(notes, fmt.Sprintf("%d runs (CPU summed)", r.Runs))
		}
		if r.Failed503 > 0 {
			notes = append(notes, fmt.Sprintf("%d/%d requests got 503", r.Failed503, r.Requests))
		}
		if r.MaxFileMB > 32 {
			notes = append(notes, fmt.Sprintf("RSS peaks: anon %.0f MB, mapped files %.0f MB", r.MaxAnonMB, r.MaxFileMB))
		}
		if r.Shipper == "rsyslog" {
			notes = append(notes, "omfwd TCP, not HTTP")
		}
		if r.LossAllowed && r.Lost > 0 {
			notes = append(notes, "loss allowed (UDP)")
		}
		if r.Scenario == "syslog-tcp" && r.HarnessCPU > 0 {
			// The machine is saturated here: what the harness spends on a
			// shipper's output is CPU the shipper does not get.
			notes = append(notes, fmt.Sprintf("harness %.2f CPU s", r.HarnessCPU))
		}
		if r.P99LatencyMS > 0 {
			notes = append(notes, fmt.Sprintf("p99 request %.1f ms", r.P99LatencyMS))
		}
		if r.CaptureRetries > 0 {
			notes = append(notes, fmt.Sprintf("%d requests refused and sent again", r.CaptureRetries))
		}
		if r.ReadLimitPerSec > 0 {
			notes = append(notes, fmt.Sprintf("`journalctl -o json > /dev/null` on the same files: %.0f/s, %.2f CPU s; hogtail at %.2f× of it",
				r.ReadLimitPerSec, r.ReadLimitCPU, r.EventsPerSec/r.ReadLimitPerSec))
		}
		if r.Notes != "" {
			notes = append(notes, r.Notes)
		}
		lostPct := ""
		if r.Lost > 0 {
			lostPct = " (" + percent(r.Lost, r.N) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.2f | %.1f | %d%s | %d | %s |\n", r.Scenario, r.Shipper, r.N,
			r.EventsPerSec, r.CPUSeconds, r.MaxRSSMB, r.Lost, lostPct, r.Duplicated, strings.Join(notes, "; "))
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// percent formats part/whole with enough digits to be non-zero.
func percent(part, whole int) string {
	p := 100 * float64(part) / float64(whole)
	switch {
	case p >= 1:
		return fmt.Sprintf("%.1f%%", p)
	case p >= 0.01:
		return fmt.Sprintf("%.2f%%", p)
	default:
		return fmt.Sprintf("%.4f%%", p)
	}
}

// redraw draws the chart of a results JSON file again, e.g. after a change
// of the chart's layout.
func redraw(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	png, err := Chart(rep.Results)
	if err != nil {
		return err
	}
	return os.WriteFile(strings.TrimSuffix(path, ".json")+".png", png, 0o644)
}
