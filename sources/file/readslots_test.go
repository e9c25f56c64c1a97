package file

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
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

// TestBusyFilesTakeTurns: files written flat out do not keep a quiet file
// from being read when there are fewer read slots than files.
func TestBusyFilesTakeTurns(t *testing.T) {
	const busy = 4
	h := newHarness(t, nil)
	h.mutate = func(s *Source) { s.reading.ch = make(chan struct{}, 2) }
	for b := 0; b < busy; b++ {
		appendFile(t, h.path(fmt.Sprintf("busy%d.log", b)), "warm=1\n")
	}
	h.start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for b := 0; b < busy; b++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(h.path(fmt.Sprintf("busy%d.log", b)), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			chunk := []byte(strings.Repeat("busy line xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 1000))
			for ctx.Err() == nil {
				if _, err := f.Write(chunk); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(200 * time.Millisecond) // the busy files hold the slots
	appendFile(t, h.path("quiet.log"), "seq=0\n")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range messages(t, h.em.Events()) {
			if m == "seq=0" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the quiet file's line was not read while busy files were written")
}
