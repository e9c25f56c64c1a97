package main

import (
	"bytes"
	"compress/gzip"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// TestScanBody reads testdata/scan/NAME.body and expects the seqs listed in
// NAME.want, one per line, in order.
func TestScanBody(t *testing.T) {
	bodies, err := filepath.Glob("testdata/scan/*.body")
	if err != nil || len(bodies) == 0 {
		t.Fatalf("no golden bodies: %v", err)
	}
	for _, path := range bodies {
		name := strings.TrimSuffix(filepath.Base(path), ".body")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantText, err := os.ReadFile(strings.TrimSuffix(path, ".body") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			for _, f := range strings.Fields(string(wantText)) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, n)
			}
			var got []int
			for _, r := range scanBody(body, nil) {
				got = append(got, r.seq)
			}
			if len(got) != len(want) {
				t.Fatalf("seqs = %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("seqs = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestTallyDuplicatesAndOrder(t *testing.T) {
	tl := NewTally(5)
	tl.add([]seqRec{{seq: 0, uuid: 11}, {seq: 2, uuid: 13}, {seq: 1, uuid: 12}})
	tl.add([]seqRec{{seq: 2, uuid: 13}})           // redelivery: same uuid
	tl.add([]seqRec{{seq: 0, uuid: 99}})           // same seq, another uuid
	tl.add([]seqRec{{seq: 7}, {seq: -1, uuid: 1}}) // out of range
	s := tl.Snapshot()
	if s.Unique != 3 || s.Lost() != 2 || s.Dups != 2 || s.DupsOtherUUID != 1 || s.Foreign != 2 {
		t.Fatalf("snapshot = %+v", s)
	}
	// 1 after 2, 2 again after 2 is not, 0 after 2 is.
	if s.OutOfOrder != 2 {
		t.Fatalf("out of order = %d, want 2", s.OutOfOrder)
	}
}

func post(t *testing.T, url string, body []byte, gz bool) int {
	t.Helper()
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	// A fresh connection per request: one pooled before Down would be
	// dead after it, and a POST is not retried on another.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Post(url, "application/x-ndjson", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiverHTTPFailuresAndOutage(t *testing.T) {
	r, err := NewReceiver(100)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	url := "http://" + r.HTTPAddr + "/ingest"
	if code := post(t, url, []byte("{\"seq\":1}\n{\"seq\":2}\n"), true); code != 200 {
		t.Fatalf("gzip post: %d", code)
	}
	r.SetFailShare(0.5)
	failed := 0
	for i := 0; i < 100; i++ {
		if post(t, url, []byte(`{"seq":3}`), false) == 503 {
			failed++
		}
	}
	if failed < 40 || failed > 60 {
		t.Fatalf("%d of 100 requests failed, want about half", failed)
	}
	r.SetFailShare(0)
	r.Down()
	if code := post(t, url, []byte(`{"seq":4}`), false); code != 0 {
		t.Fatalf("post while down answered %d", code)
	}
	if err := r.Up(); err != nil {
		t.Fatal(err)
	}
	if code := post(t, url, []byte(`{"seq":4}`), false); code != 200 {
		t.Fatalf("post after up: %d", code)
	}
	s := r.Tally.Snapshot()
	if s.Unique != 4 {
		t.Fatalf("unique = %d, want 4 (1, 2, 3, 4)", s.Unique)
	}
}

func TestReceiverTCPLines(t *testing.T) {
	r, err := NewReceiver(10)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("tcp", r.TCPAddr)
	if err != nil {
		t.Fatal(err)
	}
	// A line split across writes still counts once.
	c.Write([]byte("{\"seq\":1}\n{\"se"))
	time.Sleep(20 * time.Millisecond)
	c.Write([]byte("q\":2}\n"))
	c.Close()
	componenttest.Eventually(t, 5*time.Second, "both lines counted", func() bool { return r.Tally.Snapshot().Unique >= 2 })
	if s := r.Tally.Snapshot(); s.Unique != 2 || s.Dups != 0 {
		t.Fatalf("snapshot = %+v", s)
	}
}

func TestFileLoadRotation(t *testing.T) {
	for _, rot := range []Rotation{RenameRotation, CopyTruncate} {
		t.Run(string(rot), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			if err := (FileLoad{Path: path, N: 25, RotateEvery: 10, Rotation: rot}).Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			tl := NewTally(25)
			files, _ := filepath.Glob(path + "*")
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
					if len(line)+1 != lineBytes {
						t.Fatalf("line of %d bytes, want %d", len(line)+1, lineBytes)
					}
				}
				tl.add(scanBody(b, nil))
			}
			// Every line exists once over the files (copytruncate's copies
			// hold what was truncated).
			if s := tl.Snapshot(); s.Unique != 25 || s.Dups != 0 || len(files) != 3 {
				t.Fatalf("%d files, snapshot %+v", len(files), s)
			}
		})
	}
}
