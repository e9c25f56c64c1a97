package kafka

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
)

// Encodings of the record value.
const (
	// EncodingJSON writes the event JSON as buffered.
	EncodingJSON = "json"
	// EncodingPostHogIngestion writes the message PostHog's capture
	// service produces to its ingestion topic.
	EncodingPostHogIngestion = "posthog_ingestion"
)

// Values of Config.Acks.
const (
	AcksAll    = "all"
	AcksLeader = "leader"
	AcksNone   = "none"
)

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

var compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Config is the [sinks.NAME] table of a kafka sink.
type Config struct {
	component.DeliveryConfig
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string `toml:"brokers"`
	// Topic is a template: literal text and {event}, {distinct_id},
	// {uuid}, {team_id}, {token} placeholders.
	Topic string `toml:"topic"`
	// Key is the record key template (same placeholders); "" sends no key.
	Key string `toml:"key"`
	// Encoding is "json" or "posthog_ingestion".
	Encoding string `toml:"encoding"`
	// Token is the PostHog project API key written into posthog_ingestion
	// messages (and the {token} placeholder).
	Token string `toml:"token"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `toml:"compression"`
	// Acks is "all" (every in-sync replica), "leader" or "none".
	Acks string `toml:"acks"`
	// Idempotent enables the idempotent producer (needs acks = "all").
	Idempotent bool `toml:"idempotent"`
	// MaxMessageBytes caps one record batch, as the topic's
	// max.message.bytes does; a record that cannot fit alone goes to dead
	// letters.
	MaxMessageBytes component.ByteSize `toml:"max_message_bytes"`
	// Linger is how long a partition waits for more records before a
	// produce request is built.
	Linger component.Duration `toml:"linger"`
	// ClientID identifies hogtail in the brokers' logs and quotas.
	ClientID string `toml:"client_id"`
	// AllowAutoTopicCreation lets the brokers create missing topics (if
	// their auto.create.topics.enable allows it).
	AllowAutoTopicCreation bool `toml:"allow_auto_topic_creation"`
	// DialTimeout bounds connecting to a broker (TCP, TLS and SASL).
	DialTimeout component.Duration `toml:"dial_timeout"`
	// RequestTimeout is how long a broker may take to answer a produce
	// request.
	RequestTimeout component.Duration `toml:"request_timeout"`
	// DeliveryTimeout bounds how long the client keeps retrying a record
	// internally before the batch fails back to the agent's backoff.
	DeliveryTimeout component.Duration `toml:"delivery_timeout"`
	// TLS configures encryption and client certificates.
	TLS TLSConfig `toml:"tls"`
	// SASL configures authentication.
	SASL SASLConfig `toml:"sasl"`
}

// TLSConfig is the tls table.
type TLSConfig struct {
	Enabled bool `toml:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust; "" uses the system pool.
	CAFile string `toml:"ca_file"`
	// CertFile and KeyFile are the client certificate (mutual TLS).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName         string `toml:"server_name"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
}

// SASLConfig is the sasl table.
type SASLConfig struct {
	// Mechanism is "" (none), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string `toml:"mechanism"`
	Username  string `toml:"username"`
	Password  string `toml:"password"`
}

func defaultConfig() *Config {
	d := component.DefaultDelivery()
	// Deliver waits for the acknowledgement of the whole batch, so bigger
	// batches and more of them in flight make up for the round trips; the
	// client spreads a batch over the partitions' leaders.
	d.BatchMaxEvents = 5000
	d.BatchMaxBytes = 4 << 20
	d.BatchTimeout = component.Duration(200 * time.Millisecond)
	d.Concurrency = 4
	return &Config{
		DeliveryConfig:  d,
		Brokers:         []string{"localhost:9092"},
		Topic:           "hogtail_events",
		Key:             "{distinct_id}",
		Encoding:        EncodingJSON,
		Compression:     "lz4",
		Acks:            AcksAll,
		Idempotent:      true,
		MaxMessageBytes: 1_000_000,
		Linger:          component.Duration(5 * time.Millisecond),
		ClientID:        "hogtail",
		DialTimeout:     component.Duration(10 * time.Second),
		RequestTimeout:  component.Duration(30 * time.Second),
		DeliveryTimeout: component.Duration(2 * time.Minute),
	}
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	// The delivery options (batch_*, concurrency, buffer.*, retry.*) are
	// validated once for every sink by the config loader.
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: must list at least one broker (host:port)"))
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("brokers: %q must be host:port", b))
		}
	}
	if t, err := parseTemplate(c.Topic); err != nil {
		errs = append(errs, fmt.Errorf("topic: %w", err))
	} else if c.Topic == "" {
		errs = append(errs, errors.New("topic: must be set"))
	} else {
		for _, p := range t.parts {
			if p.field != fieldLiteral {
				continue
			}
			for i := 0; i < len(p.lit); i++ {
				if !topicByte(p.lit[i]) {
					errs = append(errs, fmt.Errorf("topic: %q has %q: topic names allow only a-z A-Z 0-9 . _ -", c.Topic, p.lit[i]))
					break
				}
			}
		}
		if t.constant() {
			if err := checkTopic(c.Topic); err != nil {
				errs = append(errs, fmt.Errorf("topic: %w", err))
			}
		}
	}
	if _, err := parseTemplate(c.Key); err != nil {
		errs = append(errs, fmt.Errorf("key: %w", err))
	}
	switch c.Encoding {
	case EncodingJSON:
	case EncodingPostHogIngestion:
		if strings.TrimSpace(c.Token) == "" {
			errs = append(errs, errors.New("token: must be set to the project API key (phc_...) with the posthog_ingestion encoding"))
		}
	default:
		errs = append(errs, fmt.Errorf("encoding: must be %q or %q, got %q", EncodingJSON, EncodingPostHogIngestion, c.Encoding))
	}
	if strings.HasPrefix(c.Token, "phx_") {
		errs = append(errs, errors.New("token: is a personal API key (phx_...); ingestion needs the project API key (phc_...)"))
	}
	if !contains(compressions, c.Compression) {
		errs = append(errs, fmt.Errorf("compression: must be one of %s, got %q", strings.Join(compressions, ", "), c.Compression))
	}
	switch c.Acks {
	case AcksAll:
	case AcksLeader, AcksNone:
		if c.Idempotent {
			errs = append(errs, fmt.Errorf("acks: must be %q while idempotent = true (set idempotent = false to use %q)", AcksAll, c.Acks))
		}
	default:
		errs = append(errs, fmt.Errorf("acks: must be %q, %q or %q, got %q", AcksAll, AcksLeader, AcksNone, c.Acks))
	}
	// The client refuses batches over its 100 MiB request limit (Kafka's
	// socket.request.max.bytes default).
	if c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 100<<20 {
		errs = append(errs, fmt.Errorf("max_message_bytes: must be 1KiB to 100MiB, got %d", c.MaxMessageBytes))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: must not be empty"))
	}
	for _, d := range []struct {
		key string
		v   component.Duration
	}{{"dial_timeout", c.DialTimeout}, {"request_timeout", c.RequestTimeout}, {"delivery_timeout", c.DeliveryTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", d.key))
		}
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.KeyFile != "" || c.TLS.ServerName != "" || c.TLS.InsecureSkipVerify) {
		errs = append(errs, errors.New("tls.enabled: must be true when other tls options are set"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file: cert_file and key_file must be set together"))
	}
	switch c.SASL.Mechanism {
	case "":
		if c.SASL.Username != "" || c.SASL.Password != "" {
			errs = append(errs, errors.New("sasl.mechanism: must be set when sasl.username or sasl.password is"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASL.Username == "" {
			errs = append(errs, errors.New("sasl.username: must be set"))
		}
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism: must be %q, %q or %q, got %q", SASLPlain, SASLScramSHA256, SASLScramSHA512, c.SASL.Mechanism))
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
