package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// journalRemoteTool returns systemd-journal-remote, which writes journal
// files from export-format input ("" when it is not installed).
func journalRemoteTool() string {
	for _, p := range []string{"/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// journalSkip says why the journald scenario cannot run here ("" = it can).
func journalSkip() string {
	if _, err := exec.LookPath("journalctl"); err != nil {
		return "no journalctl"
	}
	if journalRemoteTool() == "" {
		return "no systemd-journal-remote to write the journal (Debian package systemd-journal-remote)"
	}
	return ""
}

// JournalLoad writes n journal entries (seq 0..n-1) into a journal file in
// Dir: MESSAGE is the tail scenarios' line, with the fields a service's
// entry carries.
type JournalLoad struct {
	Dir string
	N   int
}

// Run writes the entries with systemd-journal-remote.
func (l JournalLoad) Run(ctx context.Context) error {
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, journalRemoteTool(), "--output="+filepath.Join(l.Dir, "bench.journal"), "-")
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("journal load: %w", err)
	}
	w := bufio.NewWriterSize(in, 256<<10)
	realtime := time.Now().Add(-time.Hour).UnixMicro()
	var line []byte
	for i := 0; i < l.N; i++ {
		fmt.Fprintf(w, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n",
			realtime+int64(i), 1_000_000+i)
		line = appendLine(line[:0], i)
		w.WriteString("MESSAGE=")
		w.Write(line) // ends with the entry field's newline
		w.WriteString("PRIORITY=6\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=checkout\n_PID=")
		w.WriteString(strconv.Itoa(1000 + i%7))
		w.WriteString("\n_SYSTEMD_UNIT=checkout.service\n_TRANSPORT=stdout\n_HOSTNAME=bench\n_UID=998\n_GID=998\n_COMM=checkout\n")
		// One binary field per hundred entries, as journald stores
		// non-text payloads.
		if i%100 == 0 {
			w.WriteString("PAYLOAD\n")
			binary.Write(w, binary.LittleEndian, uint64(4))
			w.Write([]byte{0xff, 0x00, 0x01, 0x02})
			w.WriteString("\n")
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("journal load: %w: %s", err, stderr.String())
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("journal load: %w: %s", err, stderr.String())
	}
	return nil
}

// readingLimit runs `journalctl -o json > /dev/null` over the journal: the
// rate at which any journalctl-based reader can at most see entries. It
// returns the best of two runs (entries per second) and that run's CPU
// seconds, so that a cold first read does not flatter hogtail's ratio.
func readingLimit(ctx context.Context, dir string, n int) (perSec, cpu float64, err error) {
	for i := 0; i < 2; i++ {
		cmd := exec.CommandContext(ctx, "journalctl", "--directory="+dir, "--output=json", "--all", "--no-pager", "--no-tail")
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("journalctl reading limit: %w", err)
		}
		if r := float64(n) / time.Since(start).Seconds(); r > perSec {
			st := cmd.ProcessState
			perSec, cpu = r, (st.UserTime() + st.SystemTime()).Seconds()
		}
	}
	return perSec, cpu, nil
}
