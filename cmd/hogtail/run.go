package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/fsnotify/fsnotify"
	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/redact"
)

func newLogger(cfg *config.Config, level *slog.LevelVar, w io.Writer) *slog.Logger {
	setLevel(level, cfg.LogLevel)
	// Secrets in URLs, errors and attributes never reach the log.
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact.ReplaceAttr}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	// Repeated errors (a receiver down, a connector throwing on every
	// event) are logged at most 5 times a minute per component.
	return slog.New(agent.NewRateLimitedHandler(h, 5, time.Minute))
}

func setLevel(v *slog.LevelVar, name string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err == nil {
		v.Set(l)
	}
}

func cmdRun(args []string, stderr io.Writer) int {
	fs, path := newFlags("run", "Runs the agent until SIGINT or SIGTERM (or until every source has finished),\nthen drains the queues within shutdown_timeout. SIGHUP, or a change of the\nconfig file, reloads the config; a config with errors is rejected and the\nrunning one is kept.", stderr)
	watch := fs.Bool("watch-config", true, "reload when the config file changes")
	cfg, code := loadFlags(fs, path, args, stderr)
	if code >= 0 {
		return code
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg, level, stderr)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	child := bufferChild()
	if child == nil {
		log.Warn("cannot find hogtail's own executable: the buffer file is opened without the damage check (a damaged file can crash hogtail)")
	}
	a, err := agent.New(cfg, agent.Options{Logger: log, BufferChild: child, BufferWaiting: notifier{log: log}.extendStart})
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	var apiAddr string
	if cfg.API.Enabled {
		apiAddr, _, err = a.ServeAPI(apiCtx)
		if err != nil {
			log.Error("cannot start", "error", err)
			a.Buffer().Close()
			return 1
		}
		log.Info("api listening", "address", apiAddr)
	}

	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	n := notifier{log: log}
	select {
	case <-a.Started():
		n.notify(daemon.SdNotifyReady)
		logNextSteps(log, cfg, *path, apiAddr)
	case err := <-done:
		return exitStatus(log, err)
	}
	go n.watchdog(ctx, a)

	reloads := make(chan string, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			trigger(reloads, "SIGHUP")
		}
	}()
	if *watch {
		go watchFile(ctx, log, *path, reloads)
	}
	for {
		select {
		case err := <-done:
			n.notify(daemon.SdNotifyStopping)
			return exitStatus(log, err)
		case <-ctx.Done():
			n.notify(daemon.SdNotifyStopping)
			return exitStatus(log, <-done)
		case why := <-reloads:
			n.notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
			reload(ctx, log, level, a, *path, why)
			n.notify(daemon.SdNotifyReady)
		}
	}
}

func exitStatus(log *slog.Logger, err error) int {
	if err != nil {
		log.Error("stopped with errors", "error", err)
		return 1
	}
	return 0
}

func trigger(ch chan string, why string) {
	select {
	case ch <- why:
	default: // a reload is already pending
	}
}

// reload validates the config file and applies it; on any error the
// running config is kept and every problem is logged, past the log rate
// limiter: a rejected reload must say all that is wrong, every time.
func reload(ctx context.Context, log *slog.Logger, level *slog.LevelVar, a *agent.Agent, path, why string) {
	full := agent.NoRateLimit(ctx)
	log.InfoContext(full, "reloading config", "trigger", why, "config", path)
	cfg, err := config.Load(path, components())
	if err != nil {
		a.ReloadRejected()
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, p := range errs {
				log.ErrorContext(full, "config rejected; keeping the running config", "problem", p.String())
			}
		} else {
			log.ErrorContext(full, "config rejected; keeping the running config", "error", err)
		}
		return
	}
	for _, w := range cfg.Warnings {
		log.WarnContext(full, w)
	}
	if err := a.Reload(ctx, cfg); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			log.ErrorContext(full, "reload failed; keeping the running config", "error", e)
		}
		return
	}
	setLevel(level, cfg.LogLevel)
	log.InfoContext(full, "config reloaded", "config", path)
}

// watchFile triggers a reload when the config file changes. It watches the
// directory, since editors and config management replace files by rename,
// and debounces bursts of writes.
func watchFile(ctx context.Context, log *slog.Logger, path string, reloads chan string) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("cannot watch the config file; use SIGHUP to reload", "error", err)
		return
	}
	defer w.Close()
	abs, _ := filepath.Abs(path)
	if err := w.Add(filepath.Dir(abs)); err != nil {
		log.Warn("cannot watch the config file; use SIGHUP to reload", "error", err)
		return
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-w.Events:
			if filepath.Clean(ev.Name) == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce = time.After(300 * time.Millisecond)
			}
		case err := <-w.Errors:
			log.Warn("config watch error", "error", err)
		case <-debounce:
			debounce = nil
			trigger(reloads, "config file changed")
		}
	}
}

// notifier speaks the systemd notify protocol when NOTIFY_SOCKET is set.
type notifier struct {
	log *slog.Logger
}

func (n notifier) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify failed", "state", state, "error", err)
	}
}

// extendStart asks systemd for more start time: checking and salvaging a
// large damaged buffer can outlast TimeoutStartSec, and a start killed
// half-way would begin again, in a loop.
func (n notifier) extendStart() {
	n.notify("EXTEND_TIMEOUT_USEC=30000000")
}

// watchdog pings systemd at half the WatchdogSec interval while hogtail's
// own machinery runs (agent.Alive: the buffer commits, the delivery loops
// run), so systemd restarts a wedged agent. Receivers that refuse or fail
// never withhold the ping: /health reports them, and a restart would not
// fix them.
func (n notifier) watchdog(ctx context.Context, a *agent.Agent) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check, cancel := context.WithTimeout(ctx, interval/2)
			err := a.Alive(check)
			cancel()
			if err == nil {
				n.notify(daemon.SdNotifyWatchdog)
			} else if ctx.Err() == nil {
				n.log.Error("hogtail's machinery is stuck; withholding the systemd watchdog ping", "error", err)
			}
		}
	}
}
