package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/config"
)

// lockTimeout is how long the offline commands wait for the buffer's file
// lock before saying that an agent holds it.
const lockTimeout = time.Second

const deadLettersUsage = `Usage:
  hogtail dead-letters list    [--config FILE] [--component NAME] [--limit N]
  hogtail dead-letters replay  [--config FILE] [--id N ...] [--sink NAME]
  hogtail dead-letters purge   [--config FILE] (--all | --id N ...)

Dead letters are records a sink gave up on (a 4xx answer, an event over
the size limit, retry.max_elapsed reached) or that a transform could not
process. They stay in the buffer file under data_dir until replayed or
purged. When hogtail is stopped these commands open that file; when it
runs (it holds the file's lock) they ask the running agent through its
API ([api] address of --config, or --api).

  list    prints one JSON object per dead letter: id, time, component,
          reason, record.
  replay  appends the records to the end of the queue of the sink they
          came from (or of --sink NAME) and deletes them from dead
          letters, in one transaction; the agent delivers them (at once
          when it runs, else at its next start). Without --id, every dead
          letter is replayed; with --id, exactly the given ones.
  purge   deletes dead letters: --all, or the given --id values.
`

const bufferUsage = `Usage:
  hogtail buffer check [--config FILE] [--json]
  hogtail buffer drop-queue NAME [--config FILE | --data-dir DIR]

Checks the buffer file under data_dir: bbolt's page-level consistency
check, then every queue chunk's checksum (through the running agent's API
when hogtail runs, else on the file itself). Prints
queue depths, sizes and chunk counts, the dead letter count and the
checkpoint namespaces. Exits 1 when it finds damage. The check runs in a
child process, so a file that makes bbolt crash is reported as damaged.
The file is never changed: hogtail run sets a damaged file aside and
salvages what it can.

drop-queue deletes the queue NAME and its records: the queue of a sink
removed from the config, which stays in the buffer until it is dropped
or the sink comes back (to deliver its records instead, put the sink back
under that name). The agent must be stopped. With --config, a queue that
a sink of the config reads is refused; --data-dir does not check.
`

// idList is a repeatable --id flag; values may also be comma-separated.
type idList []uint64

func (l *idList) String() string { return fmt.Sprint(*l) }

func (l *idList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || id == 0 {
			return fmt.Errorf("invalid dead letter id %q", f)
		}
		*l = append(*l, id)
	}
	return nil
}

// bufferFlags are the flags every buffer command has.
type bufferFlags struct {
	config, dataDir, api, token *string
}

// offlineFlags adds the flags every buffer command has.
func offlineFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, bufferFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := bufferFlags{
		config:  fs.String("config", config.DefaultPath, "path of the TOML config file"),
		dataDir: fs.String("data-dir", "", "data directory holding "+agent.BufferFile+" (default: the config's data_dir)"),
		api:     fs.String("api", "", "API address of the running agent (default: [api] address of --config)"),
		token:   fs.String("token", "", "API bearer token of the running agent (default: $"+tokenEnv+", else [api] auth_token of --config)"),
	}
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprint(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, f
}

// bufferFile returns the buffer file of --data-dir, or of the config (then
// also returned).
func bufferFile(f bufferFlags) (string, *config.Config, error) {
	if *f.dataDir != "" {
		return filepath.Join(*f.dataDir, agent.BufferFile), nil, nil
	}
	// Only the settings: the components (connector code included) need
	// not build for a command that reads the buffer.
	c, err := config.LoadSettings(*f.config)
	if err != nil {
		return "", nil, fmt.Errorf("%w\n(use --data-dir to point at the buffer without a valid config)", err)
	}
	return filepath.Join(c.DataDir, agent.BufferFile), c, nil
}

// openAdmin opens the buffer file; when a running agent holds its lock, it
// returns a client of that agent's API instead.
func openAdmin(f bufferFlags) (bufferAdmin, error) {
	file, cfg, err := bufferFile(f)
	if err != nil {
		return nil, err
	}
	b, err := openOffline(file)
	if err == nil {
		return localAdmin{b}, nil
	}
	if !errors.Is(err, buffer.ErrLocked) {
		return nil, err
	}
	return remoteFor(f, cfg, err)
}

// remoteFor returns a client of the API of the agent that holds the
// buffer's lock (locked is that error), after one cheap call that tells
// whether the agent answers.
func remoteFor(f bufferFlags, cfg *config.Config, locked error) (bufferAdmin, error) {
	addr, tok := *f.api, *f.token
	if tok == "" {
		tok = os.Getenv(tokenEnv)
	}
	if (addr == "" || tok == "") && cfg == nil {
		c, err := config.LoadSettings(*f.config)
		if err != nil && addr == "" {
			return nil, fmt.Errorf("%w; give --api ADDR (or a valid --config) to ask the running agent", locked)
		}
		cfg = c
	}
	if cfg != nil {
		if addr == "" {
			if !cfg.API.Enabled {
				return nil, fmt.Errorf("%w, and its API is disabled ([api] enabled = false)", locked)
			}
			addr = cfg.API.Address
		}
		if tok == "" {
			tok = cfg.API.AuthToken
		}
	}
	r := newRemoteAdmin(dialable(addr), tok)
	resp, err := r.do("GET", "/health", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w, and %v", locked, err)
	}
	resp.Body.Close()
	return r, nil
}

// bufferChildCommand is the hidden subcommand that runs buffer.ChildMain.
const bufferChildCommand = "__buffer-child"

// bufferChild re-executes this binary to check or salvage a buffer file in
// a process of its own: bbolt can crash on a damaged file, and only that
// process then dies.
// The child is marked with bufferChildEnv and never starts children of
// its own, whatever binary it turns out to be.
func bufferChild() buffer.ChildCommand {
	if os.Getenv(bufferChildEnv) != "" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, append([]string{bufferChildCommand}, args...)...)
		cmd.Env = append(os.Environ(), bufferChildEnv+"=1")
		return cmd
	}
}

// bufferChildEnv marks the buffer's child process.
const bufferChildEnv = "HOGTAIL_BUFFER_CHILD"

// openOffline opens the buffer file for the dead-letter commands. It probes
// the file read-only first, so a missing or locked file is reported as
// such, and a damaged one is reported and left alone (the agent salvages
// it at its next start).
func openOffline(file string) (*buffer.Buffer, error) {
	if err := buffer.Probe(file, lockTimeout); err != nil {
		return nil, err
	}
	b, err := buffer.Open(file, buffer.Options{Sync: true, OpenTimeout: lockTimeout, Child: bufferChild(), KeepDamaged: true})
	if errors.Is(err, buffer.ErrDamaged) {
		return nil, fmt.Errorf("%w\n(run hogtail buffer check for details; hogtail run sets the file aside and salvages what it can)", err)
	}
	return b, err
}

func cmdDeadLetters(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, deadLettersUsage)
			return 0
		}
		fmt.Fprint(stderr, deadLettersUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	fs, bf := offlineFlags("dead-letters "+sub, deadLettersUsage, stderr)
	var ids idList
	var component, sink *string
	var limit *int
	var all *bool
	switch sub {
	case "list":
		component = fs.String("component", "", "only dead letters of this component (sink or transform)")
		limit = fs.Int("limit", 0, "print at most N dead letters (0: all)")
	case "replay":
		fs.Var(&ids, "id", "dead letter id to replay (repeatable, or comma-separated); default: all")
		sink = fs.String("sink", "", "queue to replay into (default: the sink each record came from)")
	case "purge":
		fs.Var(&ids, "id", "dead letter id to delete (repeatable, or comma-separated)")
		all = fs.Bool("all", false, "delete every dead letter")
	default:
		fmt.Fprintf(stderr, "hogtail dead-letters: unknown subcommand %q\n\n%s", sub, deadLettersUsage)
		return 2
	}
	if code := parseFlags(fs, rest); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hogtail dead-letters %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	if sub == "purge" && *all == (len(ids) > 0) {
		fmt.Fprintln(stderr, "hogtail dead-letters purge: give either --all or --id N")
		return 2
	}
	b, err := openAdmin(bf)
	if err != nil {
		fmt.Fprintln(stderr, "hogtail dead-letters:", err)
		return 1
	}
	defer b.close()

	switch sub {
	case "list":
		if err := b.list(stdout, *component, *limit); err != nil {
			fmt.Fprintln(stderr, "hogtail dead-letters list:", err)
			return 1
		}
		return 0
	case "replay":
		res, err := b.replay(ids, *sink)
		if err != nil {
			fmt.Fprintln(stderr, "hogtail dead-letters replay:", err)
			return 1
		}
		total := 0
		for _, q := range sortedNames(res.Replayed) {
			fmt.Fprintf(stdout, "replayed %d records into the queue of sink %q\n", res.Replayed[q], q)
			total += res.Replayed[q]
		}
		if total == 0 && len(res.Skipped) == 0 {
			fmt.Fprintln(stdout, "no dead letters to replay")
		}
		skipped := make([]uint64, 0, len(res.Skipped))
		for id := range res.Skipped {
			skipped = append(skipped, id)
		}
		sort.Slice(skipped, func(i, j int) bool { return skipped[i] < skipped[j] })
		for _, id := range skipped {
			fmt.Fprintf(stderr, "dead letter %d not replayed: %s\n", id, res.Skipped[id])
		}
		if len(skipped) > 0 {
			return 1
		}
		return 0
	default: // purge
		n, err := b.purge(ids)
		if err != nil {
			fmt.Fprintln(stderr, "hogtail dead-letters purge:", err)
			return 1
		}
		fmt.Fprintf(stdout, "purged %d dead letters\n", n)
		if len(ids) > 0 && n < len(ids) {
			fmt.Fprintf(stderr, "%d of the given ids did not exist\n", len(ids)-n)
			return 1
		}
		return 0
	}
}

func cmdBuffer(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "drop-queue" {
		return dropQueue(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, bufferUsage)
			return 0
		}
		fmt.Fprint(stderr, bufferUsage)
		return 2
	}
	fs, bf := offlineFlags("buffer check", bufferUsage, stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code := parseFlags(fs, args[1:]); code >= 0 {
		return code
	}
	rep, err := checkBuffer(bf)
	if err != nil {
		fmt.Fprintln(stderr, "hogtail buffer check:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if len(rep.Damage) > 0 {
		return 1
	}
	return 0
}

// checkBuffer checks the file read-only while hogtail is stopped (a
// damaged file is reported, never set aside), or asks the running agent.
func checkBuffer(f bufferFlags) (*buffer.Report, error) {
	file, cfg, err := bufferFile(f)
	if err != nil {
		return nil, err
	}
	var rep *buffer.Report
	if child := bufferChild(); child != nil {
		// In a child process: a file that makes bbolt crash is reported.
		rep, err = buffer.CheckIsolated(context.Background(), file, lockTimeout, child)
	} else {
		rep, err = buffer.Check(file, lockTimeout)
	}
	if !errors.Is(err, buffer.ErrLocked) {
		return rep, err
	}
	r, err := remoteFor(f, cfg, err)
	if err != nil {
		return nil, err
	}
	return r.check()
}

func printReport(w io.Writer, rep *buffer.Report) {
	fmt.Fprintf(w, "buffer %s (%d bytes)\n", rep.Path, rep.FileBytes)
	fmt.Fprintln(w, "queues:")
	if len(rep.Queues) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, q := range rep.Queues {
		fmt.Fprintf(w, "  %-24s records=%d bytes=%d chunks=%d", q.Name, q.Records, q.Bytes, q.Chunks)
		if len(q.Corrupt) > 0 {
			fmt.Fprintf(w, " corrupt_chunks=%d", len(q.Corrupt))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "dead letters: %d\n", rep.DeadLetters)
	fmt.Fprintf(w, "checkpoints: %s\n", namespaces(rep.Checkpoints))
	fmt.Fprintf(w, "connector storage: %s\n", namespaces(rep.KV))
	if len(rep.Damage) == 0 {
		fmt.Fprintln(w, "damage: none")
		return
	}
	fmt.Fprintf(w, "damage (%d):\n", len(rep.Damage))
	for _, d := range rep.Damage {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

func namespaces(m map[string]int) string {
	if len(m) == 0 {
		return "(none)"
	}
	var parts []string
	for _, k := range sortedNames(m) {
		parts = append(parts, fmt.Sprintf("%s (%d keys)", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dropQueue runs `hogtail buffer drop-queue NAME`.
func dropQueue(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, bufferUsage)
		return 2
	}
	name := args[0]
	fs, bf := offlineFlags("buffer drop-queue", bufferUsage, stderr)
	if code := parseFlags(fs, args[1:]); code >= 0 {
		return code
	}
	file := filepath.Join(*bf.dataDir, agent.BufferFile)
	if *bf.dataDir == "" {
		// The whole config: its sinks say which queues are read.
		cfg, err := config.Load(*bf.config, components())
		if err != nil {
			fmt.Fprintf(stderr, "hogtail buffer drop-queue: %v\n(use --data-dir to drop a queue without a valid config)\n", err)
			return 1
		}
		if _, ok := cfg.Sinks[name]; ok {
			fmt.Fprintf(stderr, "hogtail buffer drop-queue: sink %q of %s reads queue %q; remove the sink first\n", name, *bf.config, name)
			return 1
		}
		file = filepath.Join(cfg.DataDir, agent.BufferFile)
	}
	b, err := openOffline(file)
	if errors.Is(err, buffer.ErrLocked) {
		fmt.Fprintf(stderr, "hogtail buffer drop-queue: %v\n(stop the agent first: a running agent may still hold the queue)\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "hogtail buffer drop-queue:", err)
		return 1
	}
	st, err := b.DropQueue(name)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "hogtail buffer drop-queue:", err)
		return 1
	}
	fmt.Fprintf(stdout, "dropped queue %q: %d records, %d bytes\n", name, st.Records, st.Bytes)
	return 0
}
