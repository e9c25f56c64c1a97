package journald

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestMapping")

// TestMapping maps journal entries (testdata/map/*.in.json, written as
// journalctl's JSON output shows them for readability, fed to the source in
// its export format) to events and compares them with the golden events
// (*.want.json).
func TestMapping(t *testing.T) {
	ins, err := filepath.Glob("testdata/map/*.in.json")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no cases in testdata/map: %v", err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			line, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg := defaultConfig()
			e, err := newExportReader(bytes.NewReader(jsonToExport(t, line))).next()
			if err != nil {
				t.Fatal(err)
			}
			ev := newMapper(cfg, "testhost").toEvent(&e, now)
			if e.cursor == "" {
				// Without a cursor the uuid is a random UUIDv7.
				if len(ev.UUID) != 36 || ev.UUID[14] != '7' {
					t.Errorf("uuid %q is not a UUIDv7", ev.UUID)
				}
				ev.UUID = "(random)"
			}
			got, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			wantPath := strings.TrimSuffix(in, ".in.json") + ".want.json"
			if *update {
				if err := os.WriteFile(wantPath, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(want)) != string(got) {
				t.Errorf("event differs from %s:\ngot:\n%s\nwant:\n%s", wantPath, got, want)
			}
		})
	}
}

// TestUUIDStable: the uuid is a function of the cursor, shaped as a UUIDv7
// whose time is the entry's.
func TestUUIDStable(t *testing.T) {
	ts := time.UnixMicro(baseRealtime)
	a := entryUUID("s=1;i=2", ts)
	if b := entryUUID("s=1;i=2", ts); a != b {
		t.Errorf("same cursor, different uuids %s %s", a, b)
	}
	if c := entryUUID("s=1;i=3", ts); a == c {
		t.Errorf("different cursors, same uuid %s", a)
	}
	if a[14] != '7' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Errorf("%s is not shaped as a UUIDv7", a)
	}
	ms, _ := strconv.ParseInt(strings.ReplaceAll(a[:13], "-", ""), 16, 64)
	if ms != ts.UnixMilli() {
		t.Errorf("uuid time %d, want %d", ms, ts.UnixMilli())
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"priority name", func(c *Config) { c.Priority = "warning" }, ""},
		{"priority number", func(c *Config) { c.Priority = "3" }, ""},
		{"bad priority", func(c *Config) { c.Priority = "loud" }, "priority:"},
		{"priority out of range", func(c *Config) { c.Priority = "8" }, "priority:"},
		{"empty event", func(c *Config) { c.Event = "" }, "event:"},
		{"batch", func(c *Config) { c.BatchMaxEvents = 0 }, "batch_max_events:"},
		{"match field", func(c *Config) { c.IncludeMatches = map[string][]string{"--all": {"x"}} }, `include_matches: "--all"`},
		{"match lower case", func(c *Config) { c.ExcludeMatches = map[string][]string{"unit": {"x"}} }, `exclude_matches: "unit"`},
		{"match no value", func(c *Config) { c.IncludeMatches = map[string][]string{"_PID": {}} }, "include_matches._PID"},
		{"empty unit", func(c *Config) { c.Units = []string{""} }, "units"},
		{"restart delay", func(c *Config) { c.RestartMaxDelay = component.Duration(time.Millisecond) }, "restart_max_delay:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig()
			tc.edit(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMissingJournalctl(t *testing.T) {
	c := defaultConfig()
	c.JournalctlPath = "/nonexistent/journalctl"
	_, err := New(c, componenttest.Settings("j", t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "journalctl_path") || !strings.Contains(err.Error(), "/nonexistent/journalctl") {
		t.Fatalf("New with a missing journalctl: %v", err)
	}
}

// start runs a source on the test journal, resuming from the checkpoints
// emit holds.
func start(t *testing.T, j *testJournal, emit *componenttest.Emitter, edit func(*Config)) (*Source, func()) {
	t.Helper()
	c := defaultConfig()
	c.JournalDirectory = j.dir
	c.RestartMaxDelay = component.Duration(time.Second)
	if edit != nil {
		edit(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	set := componenttest.Settings("journal", t.TempDir())
	set.Checkpoints = emit
	src, err := New(c, set)
	if err != nil {
		t.Fatal(err)
	}
	return src.(*Source), componenttest.StartSource(t, src, emit, nil)
}

func waitEvents(t *testing.T, emit *componenttest.Emitter, n int) []*event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := emit.WaitFor(ctx, n); err != nil {
		t.Fatal(err)
	}
	return emit.Events()
}

func messages(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i], _ = e.Properties.GetString("message")
	}
	return out
}

func TestFollowInOrderWithFields(t *testing.T) {
	j := newTestJournal(t)
	j.append(
		fields{"MESSAGE": "one", "PRIORITY": 6, "SYSLOG_FACILITY": 3, "_SYSTEMD_UNIT": "a.service", "SYSLOG_IDENTIFIER": "a", "_PID": 42, "_HOSTNAME": "h1"},
		fields{"MESSAGE": "two", "PRIORITY": 3, "_SYSTEMD_UNIT": "b.service", "BLOB": []byte("caf\xc3\xa9 ok")},
		fields{"MESSAGE": []byte("bad \xff\xfe utf8"), "PRIORITY": 7, "_SYSTEMD_UNIT": "a.service"},
	)
	emit := componenttest.NewEmitter()
	_, stop := start(t, j, emit, nil)
	evs := waitEvents(t, emit, 3)
	if got := strings.Join(messages(evs), "|"); got != "one|two|YmFkIP/+IHV0Zjg=" {
		t.Errorf("messages %q", got)
	}
	p := evs[0].Properties
	for key, want := range map[string]any{"severity": "info", "severity_code": int64(6), "facility": "daemon", "facility_code": int64(3),
		"_SYSTEMD_UNIT": "a.service", "SYSLOG_IDENTIFIER": "a", "_PID": "42", "_HOSTNAME": "h1", "PRIORITY": "6", "$host": "testhost"} {
		if got, _ := p.Get(key); got != want {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	if evs[0].Event != "journald" || evs[0].DistinctID != "testhost" {
		t.Errorf("event %q distinct_id %q", evs[0].Event, evs[0].DistinctID)
	}
	if want := event.FormatTime(time.UnixMicro(baseRealtime)); evs[0].Timestamp != want {
		t.Errorf("timestamp %s, want %s", evs[0].Timestamp, want)
	}
	if got, _ := evs[1].Properties.GetString("BLOB"); got != "café ok" {
		t.Errorf("valid UTF-8 binary field = %q", got)
	}
	if _, ok := evs[1].Properties.Get("$base64_fields"); ok {
		t.Errorf("a valid UTF-8 binary field is flagged as base64")
	}
	if got, _ := evs[2].Properties.Get("$base64_fields"); !equalAny(got, []any{"MESSAGE"}) {
		t.Errorf("$base64_fields = %#v", got)
	}
	cps, _ := emit.LoadCheckpoints()
	if !strings.HasPrefix(string(cps[checkpointKey]), "s=") {
		t.Errorf("checkpoint %q is not a cursor", cps[checkpointKey])
	}

	// The journal grows while it is followed.
	j.append(fields{"MESSAGE": "four"}, fields{"MESSAGE": "five"})
	evs = waitEvents(t, emit, 5)
	if got := strings.Join(messages(evs[3:]), "|"); got != "four|five" {
		t.Errorf("appended messages %q", got)
	}
	stop()
}

func equalAny(a any, b []any) bool {
	x, ok := a.([]any)
	if !ok || len(x) != len(b) {
		return false
	}
	for i := range x {
		if x[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFilters(t *testing.T) {
	j := newTestJournal(t)
	j.append(
		fields{"MESSAGE": "a-info", "PRIORITY": 6, "_SYSTEMD_UNIT": "a.service", "_TRANSPORT": "journal"},
		fields{"MESSAGE": "a-err", "PRIORITY": 3, "_SYSTEMD_UNIT": "a.service", "_TRANSPORT": "syslog"},
		fields{"MESSAGE": "b-err", "PRIORITY": 3, "_SYSTEMD_UNIT": "b.service", "_TRANSPORT": "journal"},
		fields{"MESSAGE": "c-err", "PRIORITY": 3, "_SYSTEMD_UNIT": "c.service", "_TRANSPORT": "stdout"},
		fields{"MESSAGE": "no-priority", "_SYSTEMD_UNIT": "a.service", "_TRANSPORT": "journal"},
		fields{"MESSAGE": "last", "PRIORITY": 2, "_SYSTEMD_UNIT": "a.service", "_TRANSPORT": "kernel"},
	)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"all", nil, "a-info|a-err|b-err|c-err|no-priority|last"},
		{"units", func(c *Config) { c.Units = []string{"a", "c.service"} }, "a-info|a-err|c-err|no-priority|last"},
		{"exclude units", func(c *Config) { c.ExcludeUnits = []string{"a"} }, "b-err|c-err"},
		{"priority", func(c *Config) { c.Priority = "err" }, "a-err|b-err|c-err|last"},
		{"include matches", func(c *Config) {
			c.IncludeMatches = map[string][]string{"_TRANSPORT": {"syslog", "kernel"}, "_SYSTEMD_UNIT": {"a.service"}}
		}, "a-err|last"},
		{"exclude matches", func(c *Config) {
			c.ExcludeMatches = map[string][]string{"_TRANSPORT": {"journal"}, "PRIORITY": {"2"}}
		}, "a-err|c-err"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emit := componenttest.NewEmitter()
			src, stop := start(t, j, emit, tc.edit)
			n := strings.Count(tc.want, "|") + 1
			evs := waitEvents(t, emit, n)
			// Filtered-out entries still move the checkpoint: wait until it
			// reaches the last entry, then check nothing more came.
			lastCursor := cursorOf(t, j, "last")
			componenttest.Eventually(t, 20*time.Second, "the checkpoint at the last entry", func() bool {
				cps, _ := emit.LoadCheckpoints()
				return string(cps[checkpointKey]) == lastCursor
			})
			stop()
			evs = emit.Events()
			if got := strings.Join(messages(evs), "|"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			excluded := testutil.ToFloat64(src.m.excluded)
			if tc.name == "exclude units" && excluded != 4 {
				t.Errorf("excluded_total = %v, want 4", excluded)
			}
		})
	}
}

// cursorOf returns the cursor of the entry whose MESSAGE is msg.
func cursorOf(t *testing.T, j *testJournal, msg string) string {
	t.Helper()
	out, err := exec.Command("journalctl", "--directory="+j.dir, "--output=json", "MESSAGE="+msg).Output()
	if err != nil {
		t.Fatalf("journalctl: %v", err)
	}
	var e struct {
		Cursor string `json:"__CURSOR"`
	}
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("journalctl output %q: %v", out, err)
	}
	return e.Cursor
}

// TestResume: a source restarted on the stored checkpoint reads exactly the
// entries after it; since_now only applies to the first run.
func TestResume(t *testing.T) {
	j := newTestJournal(t)
	j.append(fields{"MESSAGE": "1"}, fields{"MESSAGE": "2"}, fields{"MESSAGE": "3"})
	emit := componenttest.NewEmitter()
	_, stop := start(t, j, emit, nil)
	waitEvents(t, emit, 3)
	stop()
	j.append(fields{"MESSAGE": "4"}, fields{"MESSAGE": "5"})
	src, stop := start(t, j, emit, func(c *Config) { c.SinceNow = true })
	evs := waitEvents(t, emit, 5)
	stop()
	if got := strings.Join(messages(emit.Events()), "|"); got != "1|2|3|4|5" {
		t.Errorf("after restart: %q", got)
	}
	if g := testutil.ToFloat64(src.m.gaps); g != 0 {
		t.Errorf("cursor_gaps_total = %v after a clean resume", g)
	}
	// The same entries read twice get the same uuids.
	emit2 := componenttest.NewEmitter()
	_, stop2 := start(t, j, emit2, nil)
	evs2 := waitEvents(t, emit2, 5)
	stop2()
	for i := range evs2 {
		if evs2[i].UUID != evs[i].UUID {
			t.Errorf("entry %d: uuid %s on the second read, %s on the first", i, evs2[i].UUID, evs[i].UUID)
		}
	}
}

func TestSinceNow(t *testing.T) {
	j := newTestJournal(t)
	j.append(fields{"MESSAGE": "old"})
	emit := componenttest.NewEmitter()
	src, stop := start(t, j, emit, func(c *Config) { c.SinceNow = true })
	componenttest.Eventually(t, 20*time.Second, "journalctl running", func() bool { return testutil.ToFloat64(src.m.running) == 1 })
	// journalctl --lines=0 --follow has seeked to the end once it runs,
	// but may not have printed; new entries arrive until one shows up.
	var evs []*event.Event
	for i := 0; len(evs) == 0; i++ {
		j.append(fields{"MESSAGE": "new" + strconv.Itoa(i)})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = emit.WaitFor(ctx, 1)
		cancel()
		evs = emit.Events()
		if i > 10 {
			t.Fatal("no entry after since_now")
		}
	}
	stop()
	for _, m := range messages(emit.Events()) {
		if m == "old" {
			t.Errorf("since_now read an entry from before the start")
		}
	}
}

// TestVacuumedCursor: when the stored cursor's entry no longer exists the
// source resumes at the oldest entry after it, counts a gap and loses
// nothing that is still in the journal.
func TestVacuumedCursor(t *testing.T) {
	j := newTestJournal(t)
	j.appendTo("old.journal", fields{"MESSAGE": "1"}, fields{"MESSAGE": "2"})
	emit := componenttest.NewEmitter()
	_, stop := start(t, j, emit, nil)
	waitEvents(t, emit, 2)
	stop()
	if err := os.Remove(filepath.Join(j.dir, "old.journal")); err != nil {
		t.Fatal(err)
	}
	j.appendTo("new.journal", fields{"MESSAGE": "3"}, fields{"MESSAGE": "4"})
	src, stop := start(t, j, emit, nil)
	waitEvents(t, emit, 4)
	stop()
	if got := strings.Join(messages(emit.Events()), "|"); got != "1|2|3|4" {
		t.Errorf("got %q", got)
	}
	if g := testutil.ToFloat64(src.m.gaps); g != 1 {
		t.Errorf("cursor_gaps_total = %v, want 1", g)
	}
}

// TestJournalctlKilled: journalctl killed from outside is started again from
// the last stored cursor; nothing is lost or read twice.
func TestJournalctlKilled(t *testing.T) {
	j := newTestJournal(t)
	j.append(fields{"MESSAGE": "1"}, fields{"MESSAGE": "2"})
	emit := componenttest.NewEmitter()
	src, stop := start(t, j, emit, nil)
	waitEvents(t, emit, 2)
	pid := journalctlPID(t, j.dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	componenttest.Eventually(t, 20*time.Second, "a journalctl restart", func() bool { return testutil.ToFloat64(src.m.restarts) >= 1 })
	j.append(fields{"MESSAGE": "3"})
	waitEvents(t, emit, 3)
	componenttest.Eventually(t, 20*time.Second, "journalctl running", func() bool { return testutil.ToFloat64(src.m.running) == 1 })
	stop()
	if got := strings.Join(messages(emit.Events()), "|"); got != "1|2|3" {
		t.Errorf("got %q", got)
	}
}

// journalctlPID finds the journalctl child reading dir.
func journalctlPID(t *testing.T, dir string) int {
	t.Helper()
	var pid int
	componenttest.Eventually(t, 20*time.Second, "the journalctl child process", func() bool {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			args := strings.Split(string(b), "\x00")
			if len(args) > 0 && filepath.Base(args[0]) == "journalctl" && strings.Contains(string(b), "--directory="+dir) {
				ppid := parentOf(filepath.Dir(p))
				if ppid == os.Getpid() {
					pid, _ = strconv.Atoi(filepath.Base(filepath.Dir(p)))
					return true
				}
			}
		}
		return false
	})
	return pid
}

func parentOf(procDir string) int {
	b, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// TestEmitFailure: a batch the buffer refuses is read again from the last
// stored cursor.
func TestEmitFailure(t *testing.T) {
	j := newTestJournal(t)
	j.append(fields{"MESSAGE": "1"}, fields{"MESSAGE": "2"})
	emit := &failingEmitter{Emitter: componenttest.NewEmitter(), failures: 1}
	c := defaultConfig()
	c.JournalDirectory = j.dir
	set := componenttest.Settings("journal", t.TempDir())
	set.Checkpoints = emit
	reg := prometheus.NewRegistry()
	set.Metrics = reg
	src, err := New(c, set)
	if err != nil {
		t.Fatal(err)
	}
	stop := componenttest.StartSource(t, src, emit, nil)
	evs := waitEvents(t, emit.Emitter, 2)
	stop()
	if got := strings.Join(messages(evs), "|"); got != "1|2" {
		t.Errorf("got %q", got)
	}
}

type failingEmitter struct {
	*componenttest.Emitter
	failures int
}

func (f *failingEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	if f.failures > 0 {
		f.failures--
		return component.ErrFull
	}
	return f.Emitter.Emit(ctx, evs, cps...)
}

// TestCurrentBootOnly: entries of another boot are not read.
func TestCurrentBootOnly(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skipf("no boot id: %v", err)
	}
	current := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	j := newTestJournal(t)
	j.append(
		fields{"MESSAGE": "old boot"},
		fields{"MESSAGE": "this boot 1", "_BOOT_ID": current},
		fields{"MESSAGE": "this boot 2", "_BOOT_ID": current},
	)
	emit := componenttest.NewEmitter()
	_, stop := start(t, j, emit, func(c *Config) { c.CurrentBootOnly = true })
	waitEvents(t, emit, 2)
	stop()
	if got := strings.Join(messages(emit.Events()), "|"); got != "this boot 1|this boot 2" {
		t.Errorf("got %q", got)
	}
}

// jsonToExport writes an entry shown as journalctl's JSON into journalctl's
// export format: a string with a newline, and an array of bytes, become
// binary fields; an array of values becomes the field repeated.
func jsonToExport(t *testing.T, line []byte) []byte {
	t.Helper()
	v, err := event.ParseValue(line)
	m, ok := v.(event.Map)
	if err != nil || !ok {
		t.Fatalf("%s: not a JSON object: %v", line, err)
	}
	var out bytes.Buffer
	field := func(key string, v any) {
		var raw []byte
		switch x := v.(type) {
		case string:
			if !strings.Contains(x, "\n") {
				out.WriteString(key + "=" + x + "\n")
				return
			}
			raw = []byte(x)
		case []any:
			for _, n := range x {
				i, ok := n.(int64)
				if !ok {
					t.Fatalf("field %s: %v is not a byte", key, n)
				}
				raw = append(raw, byte(i))
			}
		default:
			t.Fatalf("field %s: %T", key, v)
		}
		out.WriteString(key + "\n")
		binary.Write(&out, binary.LittleEndian, uint64(len(raw)))
		out.Write(raw)
		out.WriteByte('\n')
	}
	for _, f := range m {
		if arr, ok := f.Value.([]any); ok && len(arr) > 0 {
			if _, isByte := arr[0].(int64); !isByte {
				for _, x := range arr {
					field(f.Key, x)
				}
				continue
			}
		}
		field(f.Key, f.Value)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestExportFormatErrors: output that is not the export format is an error
// (journalctl is then started again from the stored cursor), never an
// unbounded allocation.
func TestExportFormatErrors(t *testing.T) {
	huge := append([]byte("MESSAGE\n"), 0, 0, 0, 0, 0, 0, 0, 1) // 2^56 bytes
	for name, in := range map[string][]byte{
		"binary value too large":    huge,
		"cut inside a binary value": append([]byte("MESSAGE\n\x05\x00\x00\x00\x00\x00\x00\x00ab"), []byte{}...),
		"binary without newline":    []byte("MESSAGE\n\x02\x00\x00\x00\x00\x00\x00\x00abX"),
		"cut inside an entry":       []byte("MESSAGE=hello\nPRIORITY=6\n"),
	} {
		if _, err := newExportReader(bytes.NewReader(in)).next(); err == nil || err == io.EOF {
			t.Errorf("%s: error %v", name, err)
		}
	}
	x := newExportReader(bytes.NewReader([]byte("A=1\nA=2\nB\n\x02\x00\x00\x00\x00\x00\x00\x00\xff\xfe\n\n")))
	e, err := x.next()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := e.fields.Get("A"); !equalAny(v, []any{"1", "2"}) {
		t.Errorf("repeated field A = %#v", v)
	}
	if v, _ := e.fields.GetString("B"); v != "//4=" || !equalAny(e.base64, []any{"B"}) {
		t.Errorf("binary B = %q, base64 fields %v", v, e.base64)
	}
	if _, err := x.next(); err != io.EOF {
		t.Errorf("after the last entry: %v", err)
	}
}
