package file

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestManyFilesBoundedBuffers: many files read at once hold at most the
// source's read slots (each a read buffer of half a MiB by default), every
// line arrives once, and a partial last line kept outside the buffer is
// read whole once its delimiter comes.
func TestManyFilesBoundedBuffers(t *testing.T) {
	const (
		files   = 200
		perFile = 30
		slots   = 3
	)
	h := newHarness(t, nil)
	h.mutate = func(s *Source) { s.reading.ch = make(chan struct{}, slots) }
	for f := 0; f < files; f++ {
		// Every file ends in the first half of a line.
		appendFile(t, h.path(fmt.Sprintf("f%03d.log", f)), seqLines(f*perFile, f*perFile+perFile-1)+fmt.Sprintf("seq=%d", f*perFile+perFile-1))
	}
	h.start()
	h.waitFor(files * (perFile - 1))
	if p := h.src.reading.peak.Load(); p > slots || p < 1 {
		t.Fatalf("%d read buffers held at once, want 1..%d", p, slots)
	}
	// The rest of each partial line.
	for f := 0; f < files; f++ {
		appendFile(t, h.path(fmt.Sprintf("f%03d.log", f)), " end\n")
	}
	h.waitFor(files * perFile)
	h.settle(100 * time.Millisecond)
	ends := 0
	for _, m := range messages(t, h.em.Events()) {
		if strings.HasSuffix(m, " end") {
			ends++
		}
	}
	if ends != files {
		t.Fatalf("%d completed partial lines read whole, want %d", ends, files)
	}
	checkSeqs(t, h, files*perFile)
	if p := h.src.reading.peak.Load(); p > slots {
		t.Fatalf("%d read buffers held at once, want at most %d", p, slots)
	}
}

// TestReadersTakeTurns: a file read in several reads gives its buffer up
// between them while another file wants one (so files written flat out do
// not keep the others from being read), and keeps it otherwise.
func TestReadersTakeTurns(t *testing.T) {
	for _, wanted := range []bool{false, true} {
		t.Run(fmt.Sprintf("wanted=%v", wanted), func(t *testing.T) {
			m := newModel(t, false, func(c *Config) { c.BatchLines = 1000 })
			m.write(60000) // 1.3 MB: several reads of a 256 KiB buffer
			if wanted {
				m.src.reading.wanting.Store(1) // as a tailer that found no slot
			}
			m.step()
			taken := m.src.reading.taken.Load()
			switch {
			case !wanted && taken != 1:
				t.Fatalf("read buffer taken %d times in one pass, want once", taken)
			case wanted && taken < 4:
				t.Fatalf("read buffer taken %d times in one pass while wanted, want once per read (at least 4)", taken)
			}
			if h := len(m.src.reading.ch); h != 0 {
				t.Fatalf("%d read buffers held at the end of the file", h)
			}
			m.src.reading.wanting.Store(0)
			m.finish()
		})
	}
}
