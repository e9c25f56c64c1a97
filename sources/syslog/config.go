package syslogsource

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hogtail/hogtail/agent/component"
)

// Modes of the listener.
const (
	ModeUDP  = "udp"
	ModeTCP  = "tcp"
	ModeTLS  = "tls"
	ModeUnix = "unix"
)

// Formats of the messages.
const (
	FormatAuto    = "auto"
	FormatRFC5424 = "rfc5424"
	FormatRFC3164 = "rfc3164"
)

// Config is the TOML table of a syslog source.
type Config struct {
	// Mode is udp, tcp, tls or unix (a unix datagram socket).
	Mode string `toml:"mode"`
	// Address is host:port for udp, tcp and tls.
	Address string `toml:"address"`
	// Path is the socket file for mode unix.
	Path string `toml:"path"`
	// SocketMode is the octal permission of the unix socket file.
	SocketMode string `toml:"socket_mode"`
	// Format is auto, rfc5424 or rfc3164.
	Format string `toml:"format"`
	// Timezone applies to RFC 3164 timestamps, which carry none.
	Timezone string `toml:"timezone"`
	// TLS files (PEM), relative to the config file.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	TLSCAFile   string `toml:"tls_ca_file"`
	// TLSVerifyClient requires a client certificate signed by tls_ca_file.
	TLSVerifyClient bool `toml:"tls_verify_client"`
	// MaxMessageBytes truncates longer messages.
	MaxMessageBytes component.ByteSize `toml:"max_message_bytes"`
	// MaxConnections caps concurrent tcp/tls connections.
	MaxConnections int `toml:"max_connections"`
	// IdleTimeout closes a connection that sent nothing for that long; 0
	// never does.
	IdleTimeout component.Duration `toml:"idle_timeout"`
	// BatchMaxEvents caps the events of one Emit.
	BatchMaxEvents int `toml:"batch_max_events"`
	// MaxInflightBytes is the memory budget of the messages read and not
	// yet stored: from all tcp/tls connections, or queued datagrams. Each
	// message counts as its length plus messageOverhead. While the budget
	// is used up, no connection is read (the senders' kernel buffers fill:
	// backpressure), and datagrams are dropped and counted.
	MaxInflightBytes component.ByteSize `toml:"max_inflight_bytes"`
	// UDPQueue is the number of datagrams held while the buffer is busy;
	// more are dropped and counted.
	UDPQueue int `toml:"udp_queue"`
	// ReceiveBufferBytes sets SO_RCVBUF on datagram sockets; 0 keeps the
	// system default.
	ReceiveBufferBytes component.ByteSize `toml:"receive_buffer_bytes"`
	// Event is the event name.
	Event string `toml:"event"`
	// DistinctID overrides the distinct_id (default: the message's
	// hostname, else the sender's address, else the agent's host name).
	DistinctID string `toml:"distinct_id"`

	tz      *time.Location
	tlsConf *tls.Config
	perm    os.FileMode
}

func defaultConfig() *Config {
	return &Config{
		Mode:            ModeUDP,
		Address:         "127.0.0.1:5514",
		SocketMode:      "0666",
		Format:          FormatAuto,
		Timezone:        "Local",
		MaxMessageBytes: 64 << 10,
		MaxConnections:  256,
		IdleTimeout:     component.Duration(5 * time.Minute),
		BatchMaxEvents:  1000,
		// About four busy connections at full speed (one needs about
		// 4 MiB of it: the events read, the batch being stored and the next).
		MaxInflightBytes: 16 << 20,
		UDPQueue:         10000,
		Event:            "syslog",
	}
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeUDP, ModeTCP, ModeTLS:
		network := "tcp"
		if c.Mode == ModeUDP {
			network = "udp"
		}
		if err := component.CheckListenAddress(network, c.Address); err != nil {
			errs = append(errs, fmt.Errorf("address: %w", err))
		}
	case ModeUnix:
		if c.Path == "" {
			errs = append(errs, errors.New("path: required with mode = \"unix\""))
		}
	default:
		errs = append(errs, fmt.Errorf("mode: must be udp, tcp, tls or unix, got %q", c.Mode))
	}
	if p, err := strconv.ParseUint(c.SocketMode, 8, 32); err != nil || p > 0o777 {
		errs = append(errs, fmt.Errorf("socket_mode: must be an octal permission like \"0660\", got %q", c.SocketMode))
	} else {
		c.perm = os.FileMode(p)
	}
	switch c.Format {
	case FormatAuto, FormatRFC5424, FormatRFC3164:
	default:
		errs = append(errs, fmt.Errorf("format: must be auto, rfc5424 or rfc3164, got %q", c.Format))
	}
	if tz, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone: %v", err))
	} else {
		c.tz = tz
	}
	if c.Mode == ModeTLS {
		if c.TLSCertFile == "" || c.TLSKeyFile == "" {
			errs = append(errs, errors.New("tls_cert_file: tls_cert_file and tls_key_file are required with mode = \"tls\""))
		}
		if c.TLSVerifyClient && c.TLSCAFile == "" {
			errs = append(errs, errors.New("tls_ca_file: required with tls_verify_client = true"))
		}
	} else if c.TLSCertFile != "" || c.TLSKeyFile != "" || c.TLSCAFile != "" || c.TLSVerifyClient {
		errs = append(errs, errors.New("tls_cert_file: TLS options need mode = \"tls\""))
	}
	if c.MaxMessageBytes < 64 {
		errs = append(errs, errors.New("max_message_bytes: must be at least 64 bytes"))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("max_connections: must be at least 1, got %d", c.MaxConnections))
	}
	if c.BatchMaxEvents < 1 {
		errs = append(errs, fmt.Errorf("batch_max_events: must be at least 1, got %d", c.BatchMaxEvents))
	}
	if min := c.MaxMessageBytes + messageOverhead; c.MaxInflightBytes < min {
		errs = append(errs, fmt.Errorf("max_inflight_bytes: must hold at least one message of max_message_bytes plus %d bytes (%d), got %d", messageOverhead, int64(min), int64(c.MaxInflightBytes)))
	}
	if c.UDPQueue < 1 {
		errs = append(errs, fmt.Errorf("udp_queue: must be at least 1, got %d", c.UDPQueue))
	}
	if c.Event == "" {
		errs = append(errs, errors.New("event: must not be empty"))
	}
	return errors.Join(errs...)
}

// prepare resolves paths against the config dir and loads TLS material, so
// that a bad certificate fails at load time, not at the first connection.
func (c *Config) prepare(dir string) error {
	for _, p := range []*string{&c.Path, &c.TLSCertFile, &c.TLSKeyFile, &c.TLSCAFile} {
		if *p != "" && !filepath.IsAbs(*p) && dir != "" {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.Mode != ModeTLS {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("tls_cert_file: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return fmt.Errorf("tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls_ca_file: no PEM certificate in %s", c.TLSCAFile)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if c.TLSVerifyClient {
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	c.tlsConf = conf
	return nil
}
