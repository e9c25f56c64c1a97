package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Scenario is one workload with its chaos.
type Scenario struct {
	Name        string
	Input       string // file, tcp, udp, journal, http
	N           int
	Prewrite    bool // the file is written before the shipper starts
	Rate        int  // lines or messages per second, 0 = flat out
	Conns       int  // syslog-tcp: connections sending side by side (0 or 1: one)
	Rotation    Rotation
	RotateEvery int
	JS          bool
	Fail503     float64       // share of requests failed during the window
	FailAt      time.Duration // window start, after the load starts
	FailFor     time.Duration
	DownAt      time.Duration // receiver down window
	DownFor     time.Duration
	Kills       int // SIGKILLs, one every KillMin..KillMax
	KillMin     time.Duration
	KillMax     time.Duration
	DiskFull    bool   // data_dir on a small tmpfs
	DiskSize    string // its size
	Reload      bool   // edit the connector every second
	LossOK      bool   // the design allows loss (UDP under overload)
	NotInSmoke  string // why the smoke run leaves this scenario out ("" = it runs)
}

// Result is one scenario run by one shipper.
type Result struct {
	Scenario      string  `json:"scenario"`
	Shipper       string  `json:"shipper"`
	N             int     `json:"events"`
	Received      int     `json:"received_unique"`
	Lost          int     `json:"lost"`
	Duplicated    int     `json:"duplicated"`
	DupOtherUUID  int     `json:"duplicated_after_uuid_dedup"`
	OutOfOrder    int     `json:"out_of_order"`
	WallSeconds   float64 `json:"wall_seconds"`
	EventsPerSec  float64 `json:"events_per_second"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	MaxRSSMB      float64 `json:"max_rss_mb"`
	MaxAnonMB     float64 `json:"max_rss_anon_mb"`
	MaxFileMB     float64 `json:"max_rss_file_mb"`
	Runs          int     `json:"runs"`
	Requests      int64   `json:"requests"`
	Failed503     int64   `json:"requests_failed_503"`
	LossAllowed   bool    `json:"loss_allowed"`
	Skipped       string  `json:"skipped,omitempty"`
	Notes         string  `json:"notes,omitempty"`
	StallTimedOut bool    `json:"stalled"`
	// ReadLimitPerSec and ReadLimitCPU are `journalctl -o json > /dev/null`
	// on the journald scenario's files: the most a journalctl reader gets.
	ReadLimitPerSec float64 `json:"journalctl_read_per_second,omitempty"`
	ReadLimitCPU    float64 `json:"journalctl_read_cpu_seconds,omitempty"`
	// P99LatencyMS is the 99th percentile of the accepted capture requests'
	// latency (http-capture), and CaptureRetries the requests sent again
	// after a refusal.
	P99LatencyMS   float64 `json:"p99_request_ms,omitempty"`
	CaptureRetries int64   `json:"capture_retries,omitempty"`
	// HarnessCPU is hogbench's own CPU time (load generator, receiver and
	// tally) from the start of the load to the end of the measurement. On
	// a machine the shipper shares with hogbench, a shipper whose output is
	// larger costs the harness more, and leaves itself less CPU.
	HarnessCPU float64 `json:"harness_cpu_seconds,omitempty"`
}

// Failed reports a hogtail result that breaks a promise of the design.
func (r Result) Failed() bool {
	if r.Skipped != "" || r.Shipper != "hogtail" {
		return false
	}
	return (r.Lost > 0 && !r.LossAllowed) || r.DupOtherUUID > 0 && !r.LossAllowed
}

// Runner runs scenarios.
type Runner struct {
	Stall    time.Duration // give up after no progress for this long
	MaxRun   time.Duration // hard limit of one run
	KeepTemp bool
	Trace    bool // log progress every half second
	// ProfileDir receives a CPU profile of hogtail per scenario ("" = none),
	// ProfileFor long, taken from hogtail's API (/debug/pprof/profile).
	ProfileDir string
	ProfileFor time.Duration
	Logf       func(format string, args ...any)
	Connector  string // bench/connectors/add-property
}

// Run runs sc with sh and returns its result; setup problems are errors.
func (rn *Runner) Run(ctx context.Context, sc Scenario, sh Shipper) (res Result, err error) {
	res = Result{Scenario: sc.Name, Shipper: sh.Name(), N: sc.N, LossAllowed: sc.LossOK}
	if why := sh.Skip(sc); why != "" {
		res.Skipped = why
		return res, nil
	}
	dir, err := os.MkdirTemp("", "hogbench-"+sc.Name+"-"+sh.Name()+"-")
	if err != nil {
		return res, err
	}
	if rn.KeepTemp {
		rn.Logf("%s/%s: keeping %s", sc.Name, sh.Name(), dir)
	} else {
		defer os.RemoveAll(dir)
	}
	env := Env{Dir: dir, DataDir: filepath.Join(dir, "data"), LogFile: logPath(dir), Input: sc.Input,
		JS: sc.JS, HotReload: sc.Reload, SmallQueue: sc.DiskFull, JournalDir: filepath.Join(dir, "journal")}
	for _, d := range []string{env.DataDir, filepath.Dir(env.LogFile)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return res, err
		}
	}
	if sc.DiskFull {
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+sc.DiskSize, "tmpfs", env.DataDir).CombinedOutput()
		if err != nil {
			res.Skipped = fmt.Sprintf("cannot mount a small tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
			return res, nil
		}
		defer func() {
			if out, err := exec.Command("umount", env.DataDir).CombinedOutput(); err != nil {
				rn.Logf("umount %s: %v %s", env.DataDir, err, out)
			}
		}()
	}
	if sc.JS {
		env.Connector = filepath.Join(dir, "connector")
		if err := copyDir(rn.Connector, env.Connector); err != nil {
			return res, fmt.Errorf("copy connector: %w", err)
		}
	}
	rcv, err := NewReceiver(sc.N)
	if err != nil {
		return res, err
	}
	defer rcv.Close()
	if sc.Reload {
		rcv.Marker = []byte(`"version":`)
	}
	env.HTTPURL, env.TCPAddr = "http://"+rcv.HTTPAddr, rcv.TCPAddr
	if sc.Input == "tcp" || sc.Input == "udp" || sc.Input == "http" {
		network := sc.Input
		if network == "http" {
			network = "tcp"
		}
		port, err := freePort(network)
		if err != nil {
			return res, err
		}
		env.ListenAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	profiling := rn.ProfileDir != "" && sh.Name() == "hogtail"
	if profiling {
		port, err := freePort("tcp")
		if err != nil {
			return res, err
		}
		env.APIAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	argv, err := sh.Prepare(env)
	if err != nil {
		return res, err
	}
	if sc.Prewrite && sc.Input == "journal" {
		if err := (JournalLoad{Dir: env.JournalDir, N: sc.N}).Run(ctx); err != nil {
			return res, err
		}
		// The reading limit, measured on the same files in the same run.
		perSec, cpu, err := readingLimit(ctx, env.JournalDir, sc.N)
		if err != nil {
			return res, err
		}
		res.ReadLimitPerSec, res.ReadLimitCPU = perSec, cpu
	} else if sc.Prewrite {
		if err := (FileLoad{Path: env.LogFile, N: sc.N}).Run(ctx); err != nil {
			return res, err
		}
	}

	p := &Proc{Argv: argv, Dir: dir, Log: filepath.Join(dir, "shipper.log")}
	start := time.Now()
	if err := p.Start(); err != nil {
		return res, err
	}
	defer func() {
		p.Stop(15 * time.Second)
		cpu, rss, runs, crashes := p.Usage()
		res.CPUSeconds, res.MaxRSSMB, res.Runs = cpu.Seconds(), float64(rss)/(1<<20), runs
		anon, file := p.RSSParts()
		res.MaxAnonMB, res.MaxFileMB = float64(anon)/(1<<20), float64(file)/(1<<20)
		if len(crashes) > 0 {
			res.Notes = joinNote(res.Notes, strings.Join(crashes, "; "))
			rn.Logf("%s/%s log tail:\n%s", sc.Name, sh.Name(), tailFile(p.Log, 2000))
		}
	}()

	runCtx, cancel := context.WithTimeout(ctx, rn.MaxRun)
	defer cancel()
	var capture *CaptureLoad
	if sc.Input == "http" {
		capture = &CaptureLoad{URL: "http://" + env.ListenAddr + "/batch/", N: sc.N, Concurrency: 8}
		if err := capture.Prepare(); err != nil {
			return res, err
		}
	}
	switch sc.Input {
	case "tcp", "http":
		wctx, wcancel := context.WithTimeout(runCtx, 20*time.Second)
		err := waitTCP(wctx, env.ListenAddr)
		wcancel()
		if err != nil {
			return res, fmt.Errorf("%s did not listen: %w\n%s", sh.Name(), err, tailFile(p.Log, 2000))
		}
	case "udp":
		time.Sleep(time.Second) // no way to probe a UDP listener
	case "file":
		if !sc.Prewrite {
			time.Sleep(500 * time.Millisecond) // let the shipper watch the directory
		}
	}
	if !sc.Prewrite {
		start = time.Now()
	}
	harnessStart := selfCPU()

	// Load and chaos run in goroutines that all end before Run returns.
	var wg sync.WaitGroup
	chaosCtx, stopChaos := context.WithCancel(runCtx)
	defer func() { stopChaos(); wg.Wait() }()
	var loadMu sync.Mutex
	var loadDone time.Time
	var loadErr error
	finishLoad := func(err error) {
		loadMu.Lock()
		loadDone, loadErr = time.Now(), err
		loadMu.Unlock()
	}
	if sc.Prewrite {
		finishLoad(nil)
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch sc.Input {
			case "file":
				finishLoad(FileLoad{Path: env.LogFile, N: sc.N, Rate: sc.Rate, RotateEvery: sc.RotateEvery, Rotation: sc.Rotation}.Run(chaosCtx))
			case "http":
				finishLoad(capture.Run(chaosCtx))
			default:
				l := &SyslogLoad{Addr: env.ListenAddr, UDP: sc.Input == "udp", N: sc.N, Rate: sc.Rate, Conns: sc.Conns}
				if f, ok := sh.(framer); ok && f.NewlineFraming() {
					l.Newline = true
				}
				finishLoad(l.Run(chaosCtx))
			}
		}()
	}
	chaosEnd := start
	after := func(d time.Duration, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-chaosCtx.Done():
			case <-time.After(time.Until(start.Add(d))):
				f()
			}
		}()
	}
	if profiling {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A heap profile half way through the CPU profile.
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-chaosCtx.Done():
					return
				case <-time.After(rn.ProfileFor / 2):
				}
				dst := filepath.Join(rn.ProfileDir, sc.Name+".heap.pprof")
				if err := fetchProfile(chaosCtx, env.APIAddr, "heap", dst); err != nil {
					rn.Logf("%s: heap profile: %v", sc.Name, err)
				}
				// And a one-second execution trace (go tool trace), to see
				// which goroutine waits for which.
				dst = filepath.Join(rn.ProfileDir, sc.Name+".trace")
				if err := fetchProfile(chaosCtx, env.APIAddr, "trace?seconds=1", dst); err != nil {
					rn.Logf("%s: trace: %v", sc.Name, err)
				}
			}()
			dst := filepath.Join(rn.ProfileDir, sc.Name+".pprof")
			query := fmt.Sprintf("profile?seconds=%d", max(1, int(rn.ProfileFor.Seconds())))
			if err := fetchProfile(chaosCtx, env.APIAddr, query, dst); err != nil {
				rn.Logf("%s: profile: %v", sc.Name, err)
			} else {
				rn.Logf("%s: CPU profile of hogtail in %s", sc.Name, dst)
			}
		}()
	}
	if sc.Fail503 > 0 {
		after(sc.FailAt, func() { rcv.SetFailShare(sc.Fail503) })
		after(sc.FailAt+sc.FailFor, func() { rcv.SetFailShare(0) })
		chaosEnd = start.Add(sc.FailAt + sc.FailFor)
	}
	if sc.DownFor > 0 {
		after(sc.DownAt, rcv.Down)
		after(sc.DownAt+sc.DownFor, func() {
			if err := rcv.Up(); err != nil {
				rn.Logf("%v", err)
			}
		})
		chaosEnd = start.Add(sc.DownAt + sc.DownFor)
	}
	var killsMu sync.Mutex
	killsDone := sc.Kills == 0
	lastKill := start
	if sc.Kills > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { killsMu.Lock(); killsDone = true; killsMu.Unlock() }()
			for i := 0; i < sc.Kills; i++ {
				d := sc.KillMin + rand.N(sc.KillMax-sc.KillMin+1)
				select {
				case <-chaosCtx.Done():
					return
				case <-time.After(d):
				}
				p.Kill9()
				killsMu.Lock()
				lastKill = time.Now()
				killsMu.Unlock()
				if err := p.Restart(); err != nil {
					rn.Logf("restart: %v", err)
					return
				}
			}
		}()
	}
	if sc.Reload {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for k := 1; ; k++ {
				select {
				case <-chaosCtx.Done():
					return
				case <-t.C:
				}
				if err := writeConnector(env.Connector, k); err != nil {
					rn.Logf("edit connector: %v", err)
				}
			}
		}()
	}

	// Wait for every seq, a stall, a crash or the hard limit.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	nextTrace := time.Now()
	for {
		if rn.Trace && time.Now().After(nextTrace) {
			s := rcv.Tally.Snapshot()
			reqs, failed, _ := rcv.Stats()
			rn.Logf("  %6.1fs unique %d dups %d requests %d (503: %d)", time.Since(start).Seconds(), s.Unique, s.Dups, reqs, failed)
			nextTrace = nextTrace.Add(500 * time.Millisecond)
		}
		snap := rcv.Tally.Snapshot()
		killsMu.Lock()
		kd, lk := killsDone, lastKill
		killsMu.Unlock()
		// kill9 goes on until every kill happened, even when all arrived.
		if snap.Unique >= sc.N && kd {
			break
		}
		if msg, crashed := p.Crashed(); crashed {
			rn.Logf("%s/%s: %s", sc.Name, sh.Name(), msg)
			break
		}
		loadMu.Lock()
		ld, lerr := loadDone, loadErr
		loadMu.Unlock()
		quiet := latest(start, snap.LastNew, ld, chaosEnd, lk)
		if !ld.IsZero() && kd && time.Now().After(chaosEnd) && time.Since(quiet) > rn.Stall {
			res.StallTimedOut = true
			if lerr != nil {
				res.Notes = joinNote(res.Notes, "load: "+lerr.Error())
			}
			break
		}
		if runCtx.Err() != nil {
			res.Notes = joinNote(res.Notes, "hit the run time limit")
			break
		}
		<-tick.C
	}
	res.HarnessCPU = (selfCPU() - harnessStart).Seconds()
	// A short grace period catches late duplicates.
	time.Sleep(300 * time.Millisecond)
	snap := rcv.Tally.Snapshot()
	res.Received, res.Lost = snap.Unique, snap.Lost()
	res.Duplicated, res.DupOtherUUID, res.OutOfOrder = snap.Dups, snap.DupsOtherUUID, snap.OutOfOrder
	end := snap.LastNew
	if end.IsZero() || end.Before(start) {
		end = time.Now()
	}
	res.WallSeconds = end.Sub(start).Seconds()
	if res.WallSeconds > 0 {
		res.EventsPerSec = float64(snap.Unique) / res.WallSeconds
	}
	res.Requests, res.Failed503, _ = rcv.Stats()
	if capture != nil {
		res.P99LatencyMS = float64(capture.P99().Microseconds()) / 1000
		res.CaptureRetries = capture.retries.Load()
	}
	if sc.Reload {
		res.Notes = joinNote(res.Notes, fmt.Sprintf("%d events through edited versions", rcv.Marked()))
	}
	if snap.Foreign > 0 {
		res.Notes = joinNote(res.Notes, fmt.Sprintf("%d seqs out of range", snap.Foreign))
	}
	if res.StallTimedOut && res.Lost > 0 {
		res.Notes = joinNote(res.Notes, fmt.Sprintf("stalled %s before all arrived", rn.Stall))
	}
	loadMu.Lock()
	if loadErr != nil && !strings.Contains(res.Notes, "load:") {
		res.Notes = joinNote(res.Notes, "load: "+loadErr.Error())
	}
	loadMu.Unlock()
	return res, nil
}

// selfCPU is the user and system CPU time hogbench itself used so far
// (children not included); 0 when getrusage fails.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// freePort asks the kernel for a free loopback port.
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// writeConnector rewrites the connector in place with version k, as an
// editor saving the file would. Every fourth version does not compile: the
// running version must stay in place.
func writeConnector(dir string, k int) error {
	src := fmt.Sprintf("function processEvent(event) { event.properties.shipper = 'hogtail'; event.properties.version = %d; return event }\n", k)
	if k%4 == 0 {
		src = fmt.Sprintf("function processEvent(event) { event.properties.version = %d; return event\n", k)
	}
	return os.WriteFile(filepath.Join(dir, "index.js"), []byte(src), 0o644)
}

// fetchProfile saves /debug/pprof/<query> of a hogtail API at addr.
func fetchProfile(ctx context.Context, addr, query, dst string) error {
	if err := waitTCP(ctx, addr); err != nil {
		return err
	}
	url := fmt.Sprintf("http://%s/debug/pprof/%s", addr, query)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
