package buffer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// BenchmarkBufferWriteReadDelete measures the full life of ~300-byte events
// through the buffer with fsync on: commits of 1000 records and a
// checkpoint, read back in leases of 1000, deleted after ack. Reported as
// events/s.
func BenchmarkBufferWriteReadDelete(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "sync"
		if !sync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			buf, err := Open(filepath.Join(b.TempDir(), "buf.db"), Options{Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer buf.Close()
			buf.Queue("q", QueueConfig{MaxSize: 1 << 30, WhenFull: component.WhenFullBlock})
			// Realistic ~300-byte log events: unique uuids and sequence
			// numbers, varied messages (their compressibility matters).
			const per = 1000
			batch := make([][]byte, per)
			for i := range batch {
				e := event.New("log", "web-1")
				e.Properties = event.Map{
					{Key: "message", Value: fmt.Sprintf("GET /api/items/%d 200 %dms user=%d trace=%x", i*7919%100000, i%500, i*31%9973, i*2654435761)},
					{Key: "level", Value: []string{"info", "warn", "error"}[i%3]},
					{Key: "seq", Value: int64(i)},
					{Key: "$file", Value: "/var/log/app/app.log"},
					{Key: "$host", Value: "web-1"},
					{Key: "$offset", Value: int64(i * 300)},
				}
				batch[i] = e.AppendJSON(nil)
			}
			rec := batch[0]
			r, _ := buf.Reader("q")
			ctx := context.Background()
			b.SetBytes(int64(len(rec)))
			written := ioWriteBytes()
			b.ResetTimer()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for n := 0; n < b.N; {
					l, err := r.Next(ctx, per, 1<<30, 0)
					if err != nil {
						b.Error(err)
						return
					}
					n += len(l.Records)
					r.Ack(l)
				}
			}()
			for n := 0; n < b.N; n += per {
				k := min(per, b.N-n)
				// With a checkpoint, as the file source commits one with
				// every batch.
				cp := fmt.Appendf(nil, `{"path":"/var/log/app/app.log","offset":%d,"fp":"5d41402abc4b2a76b9719d911017c592","fp_len":256,"seen":1764200000}`, n*300)
				c := &Commit{Appends: []Append{{Queue: "q", Records: batch[:k]}}, Source: "logs",
					Checkpoints: []component.Checkpoint{{Key: "2049.131073", Value: cp}}}
				if err := buf.Commit(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if w := ioWriteBytes(); w >= 0 && written >= 0 {
				// What reached the storage layer for the queue's whole life
				// (write, read, delete), per 300-byte event.
				b.ReportMetric(float64(w-written)/float64(b.N), "disk-B/event")
			}
			time.Sleep(10 * time.Millisecond)
		})
	}
}

// ioWriteBytes returns the bytes this process caused to be written to
// storage (Linux /proc/self/io), or -1.
func ioWriteBytes() int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}
