package component

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string ("1s", "250ms").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a number with a unit: 500ms, 1s, 2m, 1h)", string(b))
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes, written in TOML as an integer or a string with
// a unit ("64KiB", "5MB", "1GiB"). KB/MB/GB are powers of 1000, KiB/MiB/GiB
// powers of 1024.
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
	{"B", 1},
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *ByteSize) UnmarshalText(b []byte) error {
	v, err := ParseByteSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalTOML accepts plain integers as well as strings.
func (s *ByteSize) UnmarshalTOML(v any) error {
	switch t := v.(type) {
	case int64:
		if t < 0 {
			return fmt.Errorf("invalid size %d: must not be negative", t)
		}
		*s = ByteSize(t)
		return nil
	case string:
		return s.UnmarshalText([]byte(t))
	}
	return fmt.Errorf("invalid size %v: use an integer (bytes) or a string like \"5MB\"", v)
}

// ParseByteSize parses "1024", "64KiB", "5MB", "1.5GiB".
func ParseByteSize(str string) (ByteSize, error) {
	s := strings.TrimSpace(str)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q (use bytes or a unit: 64KiB, 5MB, 1GiB)", str)
	}
	return ByteSize(f * float64(mult)), nil
}

// MarshalText implements encoding.TextMarshaler.
func (s ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }
