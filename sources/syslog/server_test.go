package syslogsource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus"
)

type harness struct {
	src  *source
	emit *componenttest.Emitter
	reg  *prometheus.Registry
	stop func()
}

// countingEmitter counts Emit and EmitAsync calls.
type countingEmitter struct {
	*componenttest.Emitter
	calls atomic.Int64
}

func (c *countingEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	c.calls.Add(1)
	return c.Emitter.Emit(ctx, evs, cps...)
}

func (c *countingEmitter) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	c.calls.Add(1)
	return c.Emitter.EmitAsync(ctx, after, evs, cps...)
}

func start(t testing.TB, mutate func(*Config)) *harness {
	t.Helper()
	return startWith(t, componenttest.NewEmitter(), mutate)
}

func startWith(t testing.TB, emit component.Emitter, mutate func(*Config)) *harness {
	t.Helper()
	s, reg := newBare(t, mutate)
	stop := componenttest.StartSource(t, s, emit, s.ready)
	h := &harness{src: s, reg: reg, stop: stop}
	switch e := emit.(type) {
	case *componenttest.Emitter:
		h.emit = e
	case *countingEmitter:
		h.emit = e.Emitter
	}
	return h
}

func (h *harness) wait(t testing.TB, n int) []*event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.emit.WaitFor(ctx, n); err != nil {
		t.Fatal(err)
	}
	return h.emit.Events()
}

func metricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := 0.0
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return v
		}
	}
	return 0
}

// expected returns the messages of the golden table (auto format) and the
// message property each must produce.
func expected(t *testing.T) (inputs [][]byte, messages []string) {
	p := newParser(testConfig(""), "testhost")
	for _, c := range loadMsgCases(t) {
		if c.Format != "" {
			continue
		}
		ev := p.toEvent(c.bytes(t), "", frameInfo{}, time.Now)
		inputs = append(inputs, c.bytes(t))
		if ev != nil {
			m, _ := ev.Properties.GetString("message")
			messages = append(messages, m)
		}
	}
	return inputs, messages
}

func messagesOf(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i], _ = ev.Properties.GetString("message")
	}
	return out
}

func TestUDP(t *testing.T) {
	h := start(t, nil)
	inputs, want := expected(t)
	conn, err := net.Dial("udp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, in := range inputs {
		if _, err := conn.Write(in); err != nil {
			t.Fatal(err)
		}
	}
	got := h.wait(t, len(want))
	if fmt.Sprint(sorted(messagesOf(got))) != fmt.Sprint(sorted(want)) {
		t.Fatalf("messages\n%q\nwant\n%q", messagesOf(got), want)
	}
	flagged := 0
	for _, ev := range got {
		if p, _ := ev.Properties.GetString("$peer"); p != "127.0.0.1" {
			t.Fatalf("$peer %q", p)
		}
		if _, ok := ev.Properties.Get("$parse_error"); ok {
			flagged++
		}
	}
	// The metric counts exactly the events that carry a $parse_error.
	if flagged == 0 {
		t.Fatal("no golden message is flagged with a $parse_error")
	}
	if v := metricValue(t, h.reg, "hogtail_syslog_source_parse_errors_total"); v != float64(flagged) {
		t.Fatalf("parse_errors_total %v, want %d", v, flagged)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func octetFrame(b []byte) []byte { return append([]byte(fmt.Sprintf("%d ", len(b))), b...) }

func lineFrame(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b
	}
	return append(append([]byte(nil), b...), '\n')
}

// writeSplit writes b in tiny pieces with pauses, so that frames and even
// length headers are split across the server's reads.
func writeSplit(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	for i, n := 0, 0; i < len(b); i += n {
		n = min(1+i%7, len(b)-i)
		if _, err := w.Write(b[i : i+n]); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
}

func TestTCPFramingSplitAcrossReads(t *testing.T) {
	inputs, want := expected(t)
	for _, framing := range []struct {
		name  string
		frame func([]byte) []byte
	}{{"octet counting", octetFrame}, {"non-transparent", lineFrame}} {
		t.Run(framing.name, func(t *testing.T) {
			h := start(t, func(c *Config) { c.Mode = ModeTCP })
			conn, err := net.Dial("tcp", h.src.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			var stream []byte
			for _, in := range inputs {
				if framing.name == "non-transparent" && strings.Contains(strings.TrimRight(string(in), "\r\n"), "\n") {
					t.Fatalf("input with an embedded newline: %q", in)
				}
				stream = append(stream, framing.frame(in)...)
			}
			writeSplit(t, conn, stream)
			conn.Close()
			got := h.wait(t, len(want))
			if fmt.Sprint(messagesOf(got)) != fmt.Sprint(want) {
				t.Fatalf("messages (in order)\n%q\nwant\n%q", messagesOf(got), want)
			}
			if p, _ := got[0].Properties.GetString("$peer"); p != "127.0.0.1" {
				t.Fatalf("$peer %q", p)
			}
		})
	}
}

func TestOctetCountingKeepsNewlines(t *testing.T) {
	h := start(t, func(c *Config) { c.Mode = ModeTCP })
	conn, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("<13>1 2026-11-27T01:00:00Z h app - - - line one\nline two")
	conn.Write(append(octetFrame(msg), '\n')) // some senders add a newline after a frame
	conn.Write(octetFrame([]byte("<13>1 2026-11-27T01:00:00Z h app - - - next")))
	conn.Close()
	got := h.wait(t, 2)
	if m := messagesOf(got); m[0] != "line one\nline two" || m[1] != "next" {
		t.Fatalf("%q", m)
	}
}

func TestTCPBatchesBufferedMessages(t *testing.T) {
	ce := &countingEmitter{Emitter: componenttest.NewEmitter()}
	h := startWith(t, ce, func(c *Config) { c.Mode = ModeTCP; c.BatchMaxEvents = 100 })
	conn, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var stream []byte
	for i := 0; i < 1000; i++ {
		stream = append(stream, octetFrame([]byte(fmt.Sprintf("<13>1 2026-11-27T01:00:00Z h app - - - message %d", i)))...)
	}
	conn.Write(stream) // one write: the server finds many messages per read
	conn.Close()
	got := h.wait(t, 1000)
	for i, m := range messagesOf(got) {
		if m != fmt.Sprintf("message %d", i) {
			t.Fatalf("message %d = %q", i, m)
		}
	}
	if calls := ce.calls.Load(); calls > 100 || calls < 10 {
		t.Fatalf("%d Emit calls for 1000 messages with batch_max_events = 100", calls)
	}
}

func TestMaxMessageBytes(t *testing.T) {
	for _, framing := range []struct {
		name  string
		frame func([]byte) []byte
	}{{"octet counting", octetFrame}, {"non-transparent", lineFrame}} {
		t.Run(framing.name, func(t *testing.T) {
			h := start(t, func(c *Config) { c.Mode = ModeTCP; c.MaxMessageBytes = 100 })
			conn, err := net.Dial("tcp", h.src.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			long := "<13>1 2026-11-27T01:00:00Z h app - - - " + strings.Repeat("x", 200<<10)
			conn.Write(framing.frame([]byte(long)))
			conn.Write(framing.frame([]byte("<13>1 2026-11-27T01:00:00Z h app - - - after")))
			conn.Close()
			got := h.wait(t, 2)
			m := messagesOf(got)
			if len(m[0]) != 100-len("<13>1 2026-11-27T01:00:00Z h app - - - ") || m[1] != "after" {
				t.Fatalf("messages %d bytes and %q", len(m[0]), m[1])
			}
			if tr, _ := got[0].Properties.Get("$truncated"); tr != true {
				t.Fatalf("no $truncated: %s", got[0].AppendJSON(nil))
			}
			if _, tr := got[1].Properties.Get("$truncated"); tr {
				t.Fatal("$truncated on a short message")
			}
			if v := metricValue(t, h.reg, "hogtail_syslog_source_truncated_total"); v != 1 {
				t.Fatalf("truncated_total %v", v)
			}
		})
	}
}

func TestFramingErrorClosesConnection(t *testing.T) {
	h := start(t, func(c *Config) { c.Mode = ModeTCP })
	conn, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(octetFrame([]byte("<13>1 - - - - - - before")))
	conn.Write([]byte("12x garbage"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	got := h.wait(t, 1)
	if m := messagesOf(got); m[0] != "before" {
		t.Fatalf("%q", m)
	}
	if v := metricValue(t, h.reg, "hogtail_syslog_source_framing_errors_total"); v != 1 {
		t.Fatalf("framing_errors_total %v", v)
	}
}

func TestMaxConnectionsAndIdleTimeout(t *testing.T) {
	h := start(t, func(c *Config) {
		c.Mode = ModeTCP
		c.MaxConnections = 1
		c.IdleTimeout = component.Duration(300 * time.Millisecond)
	})
	first, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	first.Write([]byte("<13>1 - - - - - - hello\n"))
	h.wait(t, 1) // the first connection is being served
	second, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("second connection not refused: %v", err)
	}
	if v := metricValue(t, h.reg, "hogtail_syslog_source_connections_refused_total"); v != 1 {
		t.Fatalf("connections_refused_total %v", v)
	}
	// The idle first connection is closed by the server.
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := first.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection not closed: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reset")
}

// TestTCPBackpressure: while the buffer is full the source stops reading,
// so the sender's writes block.
func TestTCPBackpressure(t *testing.T) {
	h := start(t, func(c *Config) { c.Mode = ModeTCP })
	h.emit.SetFull(true)
	conn, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := octetFrame([]byte("<13>1 - - - - - - " + strings.Repeat("p", 8000)))
	chunk := []byte{}
	for len(chunk) < 1<<20 {
		chunk = append(chunk, frame...)
	}
	conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	written := 0
	for written < 512<<20 {
		n, err := conn.Write(chunk)
		written += n
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			t.Fatal(err)
		}
	}
	if written >= 512<<20 {
		t.Fatalf("wrote %d bytes without blocking: the source does not push back", written)
	}
	if h.emit.Len() != 0 {
		t.Fatal("events stored while full")
	}
}

func TestUDPDropsUnderBackpressure(t *testing.T) {
	h := start(t, func(c *Config) { c.UDPQueue = 5 })
	h.emit.SetFull(true)
	conn, err := net.Dial("udp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Datagrams are sent until one is dropped: how many fit before that
	// depends on the kernel's socket buffer.
	componenttest.Eventually(t, 10*time.Second, "a datagram counted as dropped", func() bool {
		if metricValue(t, h.reg, "hogtail_syslog_source_udp_dropped_total") > 0 {
			return true
		}
		for i := 0; i < 50; i++ {
			conn.Write([]byte("<13>1 - - - - - - dropped?"))
		}
		return false
	})
}

func TestUnixDatagram(t *testing.T) {
	dir, err := os.MkdirTemp("", "hts") // short path: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "log.sock")
	h := start(t, func(c *Config) { c.Mode = ModeUnix; c.Path = path; c.SocketMode = "0620" })
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o620 {
		t.Fatalf("socket file: %v %v", fi, err)
	}
	conn, err := net.Dial("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("<30>Nov 27 01:00:00 myhost app[7]: via unix socket"))
	got := h.wait(t, 1)
	if m, _ := got[0].Properties.GetString("message"); m != "via unix socket" || got[0].DistinctID != "myhost" {
		t.Fatalf("%s", got[0].AppendJSON(nil))
	}
	if _, ok := got[0].Properties.Get("$peer"); ok {
		t.Fatal("$peer on a unix socket")
	}
	h.stop()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
}

func TestShutdownCommitsWhatWasRead(t *testing.T) {
	h := start(t, func(c *Config) { c.Mode = ModeTCP })
	conn, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 100; i++ {
		conn.Write(octetFrame([]byte(fmt.Sprintf("<13>1 - - - - - - m%d", i))))
	}
	h.wait(t, 100)
	h.stop() // with the connection still open
	if n := h.emit.Len(); n != 100 {
		t.Fatalf("%d events", n)
	}
}

// ---- TLS ----

type pki struct {
	dir                           string
	caPool                        *x509.CertPool
	serverCert, serverKey, caFile string
	clientCert, clientKey         string
	clientPair                    tls.Certificate
	caCert                        *x509.Certificate
	caKey                         *ecdsa.PrivateKey
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newPKI generates a CA, a server certificate for 127.0.0.1 and a client
// certificate, at test time.
func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hogtail test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(caDER)
	p.caKey = caKey
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.caCert)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ip bool) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		cert, keyFile := filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
		writePEM(t, cert, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return cert, keyFile
	}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth, true)
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth, false)
	var err2 error
	p.clientPair, err2 = tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err2 != nil {
		t.Fatal(err2)
	}
	return p
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	// Relative paths resolve against Settings.ConfigDir.
	f := NewFactory()
	cfg := f.NewConfig().(*Config)
	cfg.Mode, cfg.Address, cfg.TLSVerifyClient = ModeTLS, "127.0.0.1:0", true
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = "server.pem", "server-key.pem", "ca.pem"
	set := componenttest.Settings("tls_in", t.TempDir())
	set.ConfigDir = p.dir
	src, err := f.CreateSource(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*source)
	emit := componenttest.NewEmitter()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, emit) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-s.ready
	addr := s.Addr().String()

	// A client with a certificate from the CA gets through, with framing
	// split across TLS records.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.clientPair}})
	if err != nil {
		t.Fatal(err)
	}
	writeSplit(t, conn, append(octetFrame([]byte("<13>1 - tlshost app - - - over tls")), octetFrame([]byte("<13>1 - tlshost app - - - second"))...))
	conn.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := emit.WaitFor(wctx, 2); err != nil {
		t.Fatal(err)
	}
	if m := messagesOf(emit.Events()); m[0] != "over tls" || m[1] != "second" {
		t.Fatalf("%q", m)
	}

	// Without a client certificate the handshake fails and nothing is stored.
	conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: p.caPool})
	if err == nil {
		conn.Write(octetFrame([]byte("<13>1 - - - - - - no cert")))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client without certificate: %v", err)
	}
	// Plain text on the TLS port is not a message either.
	raw, _ := net.Dial("tcp", addr)
	raw.Write([]byte("<13>1 - - - - - - plaintext\n"))
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(raw)
	raw.Close()
	time.Sleep(50 * time.Millisecond) // an event that should not exist is seen by waiting
	if n := emit.Len(); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

func TestSample(t *testing.T) {
	cfg := componenttest.CheckSample(t, "sources", NewFactory(), nil)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	c := defaultConfig()
	c.Mode = "tls"
	c.Address = "nope"
	c.Format = "json"
	c.Timezone = "Mars/Olympus"
	c.SocketMode = "rw"
	c.MaxMessageBytes = 1
	c.MaxConnections = 0
	c.BatchMaxEvents = 0
	c.UDPQueue = 0
	c.TLSVerifyClient = true
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"address:", "format:", "timezone:", "socket_mode:", "tls_cert_file:", "tls_ca_file:", "max_message_bytes:", "max_connections:", "batch_max_events:", "udp_queue:"} {
		if !strings.Contains("\n"+err.Error(), "\n"+key) {
			t.Errorf("missing %s in:\n%v", key, err)
		}
	}
	c = defaultConfig()
	c.Mode = ModeUnix
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "path:") {
		t.Errorf("unix without path: %v", err)
	}
}

// failingEmitter fails its first n calls as a full disk would. Through
// EmitAsync, the failure shows in Wait, and a batch chained after a failed
// one fails too, as with the agent's buffer.
type failingEmitter struct {
	*componenttest.Emitter
	left atomic.Int64
}

var errDiskFull = errors.New("write buffer.db: no space left on device")

func (f *failingEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	if f.left.Add(-1) >= 0 {
		return errDiskFull
	}
	return f.Emitter.Emit(ctx, evs, cps...)
}

type failedPending struct{ err error }

func (p failedPending) Wait() error { return p.err }

func (f *failingEmitter) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	if f.left.Add(-1) >= 0 {
		return failedPending{errDiskFull}, nil
	}
	if _, failed := after.(failedPending); failed {
		return failedPending{errors.New("an earlier batch failed")}, nil
	}
	return f.Emitter.EmitAsync(ctx, after, evs, cps...)
}

// syncOnly hides EmitAsync.
type syncOnly struct{ component.Emitter }

// TestTCPRetriesFailedCommits: messages read from a TCP connection while
// commits fail are retried until stored, in order, never dropped.
func TestTCPRetriesFailedCommits(t *testing.T) {
	for _, async := range []bool{true, false} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			em := &failingEmitter{Emitter: componenttest.NewEmitter()}
			em.left.Store(3)
			var emit component.Emitter = em
			if !async {
				emit = syncOnly{em}
			}
			h := startWith(t, emit, func(c *Config) { c.Mode = ModeTCP; c.BatchMaxEvents = 20 })
			conn, err := net.Dial("tcp", h.src.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			const n = 500
			var stream []byte
			for i := 0; i < n; i++ {
				stream = fmt.Appendf(stream, "<13>1 2024-01-01T00:00:00Z host app - - - message %d\n", i)
			}
			conn.Write(stream)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := em.WaitFor(ctx, n); err != nil {
				t.Fatal(err)
			}
			if em.left.Load() >= 0 {
				t.Fatalf("only %d of 3 failures happened", 3-em.left.Load())
			}
			for i, e := range em.Events() {
				if msg, _ := e.Properties.GetString("message"); msg != fmt.Sprintf("message %d", i) {
					t.Fatalf("event %d: %q", i, msg)
				}
			}
		})
	}
}
