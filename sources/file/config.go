package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
)

// Config is the TOML configuration of a file source.
type Config struct {
	// Include lists glob patterns of files to tail; "**" matches any number
	// of directories.
	Include []string `toml:"include"`
	// Exclude lists glob patterns of files never to tail, matched against
	// the full path.
	Exclude []string `toml:"exclude"`
	// ReadFrom is where files first seen at startup start: "beginning" or
	// "end". Files that appear while running always start at the beginning.
	ReadFrom string `toml:"read_from"`
	// IgnoreOlder skips files not modified for this long, unless they have a
	// checkpoint. 0 disables it.
	IgnoreOlder component.Duration `toml:"ignore_older"`
	// MaxLineBytes splits longer lines into flagged parts.
	MaxLineBytes component.ByteSize `toml:"max_line_bytes"`
	// LineDelimiter separates lines.
	LineDelimiter string `toml:"line_delimiter"`
	// Encoding of the files: utf-8, utf-16le, utf-16be or utf-16 (BOM).
	Encoding string `toml:"encoding"`
	// FingerprintBytes is how many leading bytes identify a file's content.
	FingerprintBytes component.ByteSize `toml:"fingerprint_bytes"`
	// PollInterval is how often files are rescanned and re-read when no
	// fsnotify event arrives.
	PollInterval component.Duration `toml:"poll_interval"`
	// PartialLineTimeout is how long a partial last line of a rotated or
	// deleted file waits at EOF before it is emitted.
	PartialLineTimeout component.Duration `toml:"partial_line_timeout"`
	// RotateWait is how long a rotated or deleted file is kept open after
	// it last grew.
	RotateWait component.Duration `toml:"rotate_wait"`
	// CheckpointTTL prunes checkpoints of files not seen for this long.
	CheckpointTTL component.Duration `toml:"checkpoint_ttl"`
	// BatchLines is the maximum number of lines per emitted batch.
	BatchLines int `toml:"batch_lines"`

	// Event is the name of the events.
	Event string `toml:"event"`
	// DistinctID is a template for distinct_id, see README.md.
	DistinctID string `toml:"distinct_id"`
	// Codec is "text" or "json".
	Codec string `toml:"codec"`
	// TimestampField, with codec json, names a top-level string field that
	// becomes the event's timestamp (and leaves properties).
	TimestampField string `toml:"timestamp_field"`

	// Multiline joins continuation lines to the line that starts a record;
	// off while its start_pattern is empty.
	Multiline MultilineConfig `toml:"multiline"`
}

// MultilineConfig groups lines into one event: a line matching StartPattern
// starts a record, other lines are appended to it.
type MultilineConfig struct {
	// StartPattern is a regular expression matching the first line of a
	// record.
	StartPattern string `toml:"start_pattern"`
	// Timeout flushes a record when no line came for this long.
	Timeout component.Duration `toml:"timeout"`
	// MaxLines flushes a record with this many lines.
	MaxLines int `toml:"max_lines"`

	start *regexp.Regexp
}

func defaultConfig() *Config {
	return &Config{
		ReadFrom:           "beginning",
		MaxLineBytes:       100 * 1024,
		LineDelimiter:      "\n",
		Encoding:           "utf-8",
		FingerprintBytes:   256,
		PollInterval:       component.Duration(time.Second),
		PartialLineTimeout: component.Duration(time.Second),
		RotateWait:         component.Duration(5 * time.Second),
		CheckpointTTL:      component.Duration(7 * 24 * time.Hour),
		BatchLines:         2000,
		Event:              "log",
		DistinctID:         "{host}",
		Codec:              "text",
		Multiline:          MultilineConfig{Timeout: component.Duration(time.Second), MaxLines: 500},
	}
}

// Validate reports every problem of the config.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Include) == 0 {
		add("include: must list at least one glob pattern")
	}
	for _, g := range []struct {
		key  string
		pats []string
	}{{"include", c.Include}, {"exclude", c.Exclude}} {
		for _, p := range g.pats {
			if err := checkPattern(p); err != nil {
				add("%s: pattern %q: %v", g.key, p, err)
			}
		}
	}
	switch c.ReadFrom {
	case "beginning", "end":
	default:
		add("read_from: must be \"beginning\" or \"end\", got %q", c.ReadFrom)
	}
	if c.MaxLineBytes < 1 {
		add("max_line_bytes: must be at least 1")
	}
	if c.LineDelimiter == "" {
		add("line_delimiter: must not be empty")
	}
	switch c.Encoding {
	case "utf-8", "utf-16", "utf-16le", "utf-16be":
	default:
		add("encoding: must be one of utf-8, utf-16, utf-16le, utf-16be, got %q", c.Encoding)
	}
	if c.FingerprintBytes < 1 || c.FingerprintBytes > 1<<20 {
		add("fingerprint_bytes: must be between 1 and 1MiB")
	}
	if c.PollInterval.D() < time.Millisecond {
		add("poll_interval: must be at least 1ms")
	}
	if c.CheckpointTTL.D() == 0 {
		add("checkpoint_ttl: must be positive")
	}
	if c.BatchLines < 1 {
		add("batch_lines: must be at least 1")
	}
	if c.Event == "" {
		add("event: must not be empty")
	}
	if _, err := parseTemplate(c.DistinctID); err != nil {
		add("distinct_id: %v", err)
	}
	switch c.Codec {
	case "text", "json":
	default:
		add("codec: must be \"text\" or \"json\", got %q", c.Codec)
	}
	if c.TimestampField != "" && c.Codec != "json" {
		add("timestamp_field: needs codec = \"json\"")
	}
	if m := &c.Multiline; m.StartPattern != "" {
		if re, err := regexp.Compile(m.StartPattern); err != nil {
			add("multiline.start_pattern: %v", err)
		} else {
			m.start = re
		}
		if m.Timeout.D() == 0 {
			add("multiline.timeout: must be positive")
		}
		if m.MaxLines < 1 {
			add("multiline.max_lines: must be at least 1")
		}
	}
	return errors.Join(errs...)
}

func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty")
	}
	for _, seg := range strings.Split(filepath.ToSlash(p), "/") {
		if seg == "**" {
			continue
		}
		if strings.Contains(seg, "**") {
			return errors.New("\"**\" must be a whole path segment")
		}
		if _, err := filepath.Match(seg, ""); err != nil {
			return err
		}
	}
	return nil
}
