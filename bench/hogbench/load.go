package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// lineBytes is the size of a generated log line, newline included.
const lineBytes = 280

// appendLine appends a JSON log line of lineBytes bytes carrying seq.
func appendLine(b []byte, seq int) []byte {
	start := len(b)
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"ts":"2026-11-27T01:50:09.123456Z","level":"info","service":"checkout","user":"user-`...)
	b = strconv.AppendInt(b, int64(seq%9973), 10)
	b = append(b, `","msg":"order processed","path":"/api/v1/orders/`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `","pad":"`...)
	for len(b)-start < lineBytes-3 {
		b = append(b, 'x')
	}
	return append(b, "\"}\n"...)
}

// Rotation is how the file writer rotates its file.
type Rotation string

const (
	// NoRotation writes one file.
	NoRotation Rotation = ""
	// RenameRotation renames the file to NAME.k and creates a new one.
	RenameRotation Rotation = "rename"
	// CopyTruncate copies the file to NAME.k and truncates it in place.
	CopyTruncate Rotation = "copytruncate"
)

// FileLoad writes n lines (seq 0..n-1) to path, rate lines per second (0 =
// flat out), rotating every rotateEvery lines.
type FileLoad struct {
	Path        string
	N           int
	Rate        int
	RotateEvery int
	Rotation    Rotation
}

// Run writes the lines; it stops early when ctx ends.
func (l FileLoad) Run(ctx context.Context) error {
	f, err := os.OpenFile(l.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer func() { f.Close() }()
	w := bufio.NewWriterSize(f, 256<<10)
	rotations := 0
	rotate := func() error {
		if err := w.Flush(); err != nil {
			return err
		}
		rotations++
		old := fmt.Sprintf("%s.%d", l.Path, rotations)
		switch l.Rotation {
		case RenameRotation:
			if err := os.Rename(l.Path, old); err != nil {
				return err
			}
			nf, err := os.OpenFile(l.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			f.Close()
			f = nf
			w.Reset(f)
		case CopyTruncate:
			if err := copyFile(l.Path, old); err != nil {
				return err
			}
			if err := f.Truncate(0); err != nil {
				return err
			}
		}
		return nil
	}
	// Paced writes go out every tick; flat out they go out per 256 KiB.
	pace := newPacer(l.Rate, func() error {
		if err := w.Flush(); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		return nil
	})
	buf := make([]byte, 0, lineBytes+64)
	for seq := 0; seq < l.N; seq++ {
		if l.Rotation != NoRotation && l.RotateEvery > 0 && seq > 0 && seq%l.RotateEvery == 0 {
			if err := rotate(); err != nil {
				return fmt.Errorf("load: rotate: %w", err)
			}
		}
		buf = appendLine(buf[:0], seq)
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if err := pace.wrote(ctx, seq); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syslogMessage appends an RFC 5424 message whose MSG is a JSON log line.
func syslogMessage(b []byte, seq int) []byte {
	b = append(b, "<14>1 2026-11-27T01:50:09.123456Z benchhost app 4242 - - "...)
	b = appendLine(b, seq)
	return b[:len(b)-1] // no newline inside the message
}

// SyslogLoad sends n RFC 5424 messages over TCP with RFC 6587 octet
// counting (or newline framing), or as one UDP datagram each, rate per
// second (0 = flat out). With Conns > 1, TCP messages are spread over that
// many connections, each sending a contiguous range of seqs at the same
// time.
type SyslogLoad struct {
	Addr string
	UDP  bool
	// Newline frames TCP messages with a newline instead of octet counting
	// (for a receiver without RFC 6587 octet counting).
	Newline bool
	N       int
	Rate    int
	Conns   int
	From    int // first seq
	Sent    int
	Error   error
}

// Run sends the messages; it stops early when ctx ends.
func (l *SyslogLoad) Run(ctx context.Context) error {
	if l.Conns > 1 && !l.UDP {
		return l.runConns(ctx)
	}
	return l.run(ctx)
}

// runConns runs Conns single-connection loads side by side.
func (l *SyslogLoad) runConns(ctx context.Context) error {
	parts := make([]*SyslogLoad, l.Conns)
	errs := make([]error, l.Conns)
	var wg sync.WaitGroup
	for k := range parts {
		from, to := l.From+l.N*k/l.Conns, l.From+l.N*(k+1)/l.Conns
		parts[k] = &SyslogLoad{Addr: l.Addr, Newline: l.Newline, N: to - from, From: from, Rate: l.Rate / l.Conns}
		if l.Rate > 0 && parts[k].Rate == 0 {
			parts[k].Rate = 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = parts[k].run(ctx)
		}()
	}
	wg.Wait()
	l.Sent = 0
	for _, p := range parts {
		l.Sent += p.Sent
	}
	return errors.Join(errs...)
}

// run sends over one connection.
func (l *SyslogLoad) run(ctx context.Context) error {
	network := "tcp"
	if l.UDP {
		network = "udp"
	}
	c, err := net.DialTimeout(network, l.Addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("syslog load: %w", err)
	}
	defer c.Close()
	var w *bufio.Writer
	if !l.UDP {
		w = bufio.NewWriterSize(c, 256<<10)
	}
	pace := newPacer(l.Rate, func() error {
		if w == nil {
			return nil
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("syslog load: %w", err)
		}
		return nil
	})
	msg := make([]byte, 0, 512)
	frame := make([]byte, 0, 512)
	for i := 0; i < l.N; i++ {
		seq := l.From + i
		msg = syslogMessage(msg[:0], seq)
		if l.UDP {
			if _, err := c.Write(msg); err != nil {
				// A refused datagram (nobody listening yet) is a loss
				// like any other: count on.
				continue
			}
		} else {
			if l.Newline {
				frame = append(append(frame[:0], msg...), '\n')
			} else {
				frame = strconv.AppendInt(frame[:0], int64(len(msg)), 10)
				frame = append(frame, ' ')
				frame = append(frame, msg...)
			}
			if _, err := w.Write(frame); err != nil {
				return fmt.Errorf("syslog load: after %d: %w", seq, err)
			}
		}
		l.Sent = i + 1
		if err := pace.wrote(ctx, i); err != nil {
			return err
		}
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return fmt.Errorf("syslog load: %w", err)
		}
	}
	return nil
}

// pacer spaces a load's writes at rate lines per second (0: flat out).
type pacer struct {
	rate, perTick int
	start         time.Time
	flush         func() error
}

// newPacer starts the clock; flush sends what is buffered before each wait.
func newPacer(rate int, flush func() error) pacer {
	const tick = 10 * time.Millisecond
	p := pacer{rate: rate, perTick: rate / int(time.Second/tick), start: time.Now(), flush: flush}
	if rate > 0 && p.perTick == 0 {
		p.perTick = 1
	}
	return p
}

// wrote is called after line i (from 0) was written: at the end of every
// tick's worth of lines it flushes and waits until they are due. It returns
// the flush's error, or ctx's once ctx is done.
func (p pacer) wrote(ctx context.Context, i int) error {
	if p.rate > 0 && (i+1)%p.perTick == 0 {
		if err := p.flush(); err != nil {
			return err
		}
		due := p.start.Add(time.Duration(float64(i+1) / float64(p.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		return nil
	}
	if i%4096 == 0 {
		return ctx.Err()
	}
	return nil
}

// logDir is where file scenarios write; the shippers tail logDir/app.log.
func logPath(dir string) string { return filepath.Join(dir, "logs", "app.log") }
