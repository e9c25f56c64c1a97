package journald

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
)

// Config is the [sources.NAME] table of a journald source.
type Config struct {
	// Event is the event name of every entry.
	Event string `toml:"event"`
	// DistinctID of every event; empty = the host name.
	DistinctID string `toml:"distinct_id"`
	// Units limits reading to these systemd units (_SYSTEMD_UNIT matches).
	Units []string `toml:"units"`
	// ExcludeUnits are skipped after reading.
	ExcludeUnits []string `toml:"exclude_units"`
	// IncludeMatches are journalctl FIELD=VALUE matches.
	IncludeMatches map[string][]string `toml:"include_matches"`
	// ExcludeMatches skip entries with any of these field values.
	ExcludeMatches map[string][]string `toml:"exclude_matches"`
	// Priority is the most verbose level read; "" = every entry.
	Priority string `toml:"priority"`
	// CurrentBootOnly reads only the entries of the current boot.
	CurrentBootOnly bool `toml:"current_boot_only"`
	// SinceNow starts at the end of the journal on the first run.
	SinceNow bool `toml:"since_now"`
	// JournalDirectory reads journal files from a directory.
	JournalDirectory string `toml:"journal_directory"`
	// JournalctlPath is the journalctl binary.
	JournalctlPath string `toml:"journalctl_path"`
	// BatchMaxEvents is the most entries per buffer commit.
	BatchMaxEvents int `toml:"batch_max_events"`
	// RestartMaxDelay caps the backoff between journalctl restarts.
	RestartMaxDelay component.Duration `toml:"restart_max_delay"`
}

func defaultConfig() *Config {
	return &Config{
		Event:           "journald",
		JournalctlPath:  "journalctl",
		BatchMaxEvents:  1000,
		RestartMaxDelay: component.Duration(30 * time.Second),
	}
}

// priorityNames are the syslog level names journalctl accepts, by number.
var priorityNames = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// priorityLevel returns the numeric level of a priority name or number.
func priorityLevel(p string) (int, bool) {
	if n, err := strconv.Atoi(p); err == nil {
		return n, n >= 0 && n <= 7
	}
	for i, name := range priorityNames {
		if strings.EqualFold(p, name) {
			return i, true
		}
	}
	return 0, false
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	var errs []error
	if c.Event == "" {
		errs = append(errs, errors.New("event: must not be empty"))
	}
	if c.BatchMaxEvents < 1 {
		errs = append(errs, errors.New("batch_max_events: must be at least 1"))
	}
	if c.RestartMaxDelay.D() < time.Second {
		errs = append(errs, errors.New("restart_max_delay: must be at least 1s"))
	}
	if c.JournalctlPath == "" {
		errs = append(errs, errors.New("journalctl_path: must not be empty"))
	}
	if c.Priority != "" {
		if _, ok := priorityLevel(c.Priority); !ok {
			errs = append(errs, fmt.Errorf("priority: %q is not a level (emerg, alert, crit, err, warning, notice, info, debug or 0-7)", c.Priority))
		}
	}
	for _, u := range append(append([]string{}, c.Units...), c.ExcludeUnits...) {
		if u == "" {
			errs = append(errs, errors.New("units, exclude_units: a unit name must not be empty"))
			break
		}
	}
	for key, m := range map[string]map[string][]string{"include_matches": c.IncludeMatches, "exclude_matches": c.ExcludeMatches} {
		for field, values := range m {
			if !validField(field) {
				errs = append(errs, fmt.Errorf("%s: %q is not a journal field name (A-Z, 0-9 and _, not starting with a digit)", key, field))
			}
			if len(values) == 0 {
				errs = append(errs, fmt.Errorf("%s.%s: needs at least one value", key, field))
			}
		}
	}
	return errors.Join(errs...)
}

// validField reports whether name is a journal field name as journald
// accepts it, so that a match can never be read as a journalctl option.
func validField(name string) bool {
	if name == "" || len(name) > 64 || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// unitName completes a unit name the way systemctl does for services.
func unitName(u string) string {
	if strings.Contains(u, ".") {
		return u
	}
	return u + ".service"
}

// args returns journalctl's arguments for a run that starts at cursor (""
// = no checkpoint yet).
func (c *Config) args(cursor string) []string {
	a := []string{"--follow", "--output=export", "--all", "--no-pager", "--quiet"}
	switch {
	case cursor != "":
		// Inclusive: the entry at cursor is read again and skipped by Run,
		// which tells an entry that still exists from one vacuumed away.
		a = append(a, "--no-tail", "--cursor="+cursor)
	case c.SinceNow:
		a = append(a, "--lines=0")
	default:
		a = append(a, "--no-tail")
	}
	if c.JournalDirectory != "" {
		a = append(a, "--directory="+c.JournalDirectory)
	}
	if c.CurrentBootOnly {
		a = append(a, "--boot")
	}
	if c.Priority != "" {
		n, _ := priorityLevel(c.Priority)
		a = append(a, "--priority="+strconv.Itoa(n))
	}
	for _, u := range c.Units {
		a = append(a, "_SYSTEMD_UNIT="+unitName(u))
	}
	for _, field := range sortedKeys(c.IncludeMatches) {
		for _, v := range c.IncludeMatches[field] {
			a = append(a, field+"="+v)
		}
	}
	return a
}

// lookPath resolves the journalctl binary, so that a host without it fails
// at start with a clear message instead of retrying forever.
func (c *Config) lookPath() (string, error) {
	p, err := exec.LookPath(c.JournalctlPath)
	if err != nil {
		return "", fmt.Errorf("journalctl_path: %q not found (install systemd's journalctl or set journalctl_path): %w", c.JournalctlPath, err)
	}
	return p, nil
}
