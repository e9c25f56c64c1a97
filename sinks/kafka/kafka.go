// Package kafka is the "kafka" sink: it produces events from the disk buffer
// to a Kafka cluster with franz-go, one record per event, as the event JSON
// or as the message PostHog's capture writes to its ingestion topic. A batch
// is acknowledged to the agent only once Kafka acknowledged every record.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

//go:embed sample.toml
var sample string

// NewFactory returns the factory of the kafka sink.
func NewFactory() component.SinkFactory {
	return component.NewSinkFactory("kafka", component.KindEvents, sample, defaultConfig, New)
}

// recordOverhead bounds what a record batch adds around one record (the
// 61-byte batch header and the record's own length, offset and timestamp
// varints and header framing), for the size check made before producing.
const recordOverhead = 128

// Sink produces batches of events to Kafka.
type Sink struct {
	cfg       Config
	log       *slog.Logger
	opts      []kgo.Opt
	topic     template
	constant  string // the topic when the template has no placeholder
	key       template
	keyField  field // set when the key is exactly one placeholder
	token     string
	tokenJSON []byte
	ingestion bool
	need      uint16 // the fields build reads
	maxRecord int
	metrics   *metrics
	// now is the clock for posthog_ingestion's "now" (tests freeze it).
	now func() time.Time

	mu     sync.Mutex
	client *kgo.Client
	// waits tracks produce calls still running after their Deliver
	// returned on cancellation; Shutdown waits for them.
	waits sync.WaitGroup

	// acked remembers records Kafka acknowledged in a batch that failed
	// as a whole, so the agent's retry of that batch does not produce
	// them again. Empty (and free) unless a batch partly failed.
	ackedMu sync.Mutex
	acked   map[uint64]struct{}
	seed    maphash.Seed

	batches sync.Pool

	// auth learns of connections the brokers refused for authentication.
	auth authWatch
}

// maxAcked bounds the memory of acknowledged records kept for retries.
const maxAcked = 1 << 20

// New returns a sink for a validated config. It reads the TLS files; the
// Kafka client itself is created by Start.
func New(c *Config, set component.Settings) (*Sink, error) {
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	topic, err := parseTemplate(c.Topic)
	if err != nil {
		return nil, fmt.Errorf("kafka: topic: %w", err)
	}
	key, err := parseTemplate(c.Key)
	if err != nil {
		return nil, fmt.Errorf("kafka: key: %w", err)
	}
	m, err := newMetrics(set.Metrics)
	if err != nil {
		return nil, fmt.Errorf("kafka: metrics: %w", err)
	}
	s := &Sink{
		cfg:       *c,
		log:       log,
		topic:     topic,
		key:       key,
		keyField:  key.only(),
		token:     c.Token,
		tokenJSON: event.AppendString(nil, c.Token),
		ingestion: c.Encoding == EncodingPostHogIngestion,
		maxRecord: int(c.MaxMessageBytes) - recordOverhead,
		metrics:   m,
		now:       time.Now,
		seed:      maphash.MakeSeed(),
	}
	if topic.constant() {
		s.constant = c.Topic
	}
	s.need = topic.needs() | key.needs()
	if s.ingestion {
		s.need = needAll
	}
	s.opts, err = clientOptions(c, set.ConfigDir, log)
	if err != nil {
		return nil, err
	}
	s.opts = append(s.opts, kgo.WithHooks(connectHook{&s.auth, c.SASL.Mechanism != ""}))
	return s, nil
}

func clientOptions(c *Config, configDir string, log *slog.Logger) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(c.DialTimeout.D()),
		kgo.ProducerBatchMaxBytes(int32(c.MaxMessageBytes)),
		kgo.ProducerLinger(c.Linger.D()),
		kgo.ProduceRequestTimeout(c.RequestTimeout.D()),
		kgo.RecordDeliveryTimeout(c.DeliveryTimeout.D()),
		// Every batch in flight must fit in the client's buffer, or
		// Produce would block one Deliver on another.
		kgo.MaxBufferedRecords(max(50_000, 2*c.Concurrency*c.BatchMaxEvents)),
		kgo.WithLogger(kgoLogger{log}),
		// A missing topic fails after UnknownTopicRetries metadata
		// loads; 1s apart (instead of 5s) the sink pauses within
		// seconds, and leader moves are learnt sooner too.
		kgo.MetadataMinAge(time.Second),
	}
	switch c.Compression {
	case "none":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	}
	switch c.Acks {
	case AcksAll:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !c.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if c.AllowAutoTopicCreation {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}
	if c.TLS.Enabled {
		tc, err := tlsConfig(c.TLS, configDir)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	var mech sasl.Mechanism
	switch c.SASL.Mechanism {
	case SASLPlain:
		mech = plain.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsMechanism()
	case SASLScramSHA256:
		mech = scram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha256Mechanism()
	case SASLScramSHA512:
		mech = scram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha512Mechanism()
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func tlsConfig(c TLSConfig, configDir string) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(resolve(configDir, c.CAFile))
		if err != nil {
			return nil, fmt.Errorf("kafka: tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: tls.ca_file: no PEM certificate in %s", resolve(configDir, c.CAFile))
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(resolve(configDir, c.CertFile), resolve(configDir, c.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("kafka: tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// Start implements component.Lifecycle: it creates the Kafka client. The
// client connects lazily, so Start succeeds while the brokers are down and
// the agent keeps buffering.
func (s *Sink) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return nil
	}
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	s.client = cl
	return nil
}

// renewClient replaces the client after an UNKNOWN_TOPIC_ID answer: the
// topic was deleted and created again under a new ID, and a client keeps
// the ID it learnt (refreshing its metadata does not help), so only a new
// client produces to the new topic. The agent retries the failed records
// with it. The old client is closed once the deliveries using it have
// their outcome; Shutdown waits for that. It reports whether a client
// other than old is in place.
func (s *Sink) renewClient(old *kgo.Client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return false // shut down
	}
	if s.client != old {
		return true // renewed by another Deliver
	}
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		s.log.Error("cannot renew the client after UNKNOWN_TOPIC_ID; keeping the old one", "error", err)
		return false
	}
	s.client = cl
	s.log.Warn("a topic was recreated (UNKNOWN_TOPIC_ID); producing through a new client")
	s.waits.Add(1)
	go func() {
		defer s.waits.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout.D())
		defer cancel()
		old.AbortBufferedRecords(ctx) // their deliveries fail and are retried
		old.Close()
	}()
	return true
}

// Shutdown implements component.Lifecycle. The agent calls it once no
// Deliver is waiting any more, so the records the client still buffers
// belong to deliveries that gave up (cancelled at shutdown): the agent
// keeps them in its buffer and produces them again on the next start.
// Sending them now would only duplicate them, so they are aborted; the
// abort waits (within ctx) for requests already in flight, whose outcome
// the idempotent producer must learn. Then the client is closed.
func (s *Sink) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	cl := s.client
	s.client = nil
	s.mu.Unlock()
	if cl == nil {
		return nil
	}
	err := cl.AbortBufferedRecords(ctx)
	cl.Close()
	s.waits.Wait()
	if err != nil {
		return fmt.Errorf("kafka: abort buffered records at shutdown: %w", err)
	}
	return nil
}

// batch holds the records of one Deliver call: kgo records, their key,
// value and header bytes in one arena, so a batch costs a few allocations
// rather than several per event.
type batch struct {
	recs    []kgo.Record
	ptrs    []*kgo.Record
	hdrs    []kgo.RecordHeader
	arena   []byte
	spans   []recordSpans
	topics  map[string]string
	fields  fields
	indexes []int  // index in the Deliver batch of each kgo record
	failed  []bool // by index in the Deliver batch
	// skipped are the hashes of records not produced because an earlier
	// try had them acknowledged; forgotten once this batch succeeds.
	skipped []uint64
}

type recordSpans struct {
	key       span
	keyInRec  bool // the key is a sub-slice of the buffered record
	topic     string
	ingestion ingestionRecord
}

func (s *Sink) getBatch() *batch {
	if b, ok := s.batches.Get().(*batch); ok {
		return b
	}
	return &batch{topics: map[string]string{}}
}

func (s *Sink) putBatch(b *batch) {
	if cap(b.arena) > 64<<20 {
		return
	}
	clear(b.recs)
	clear(b.ptrs)
	clear(b.hdrs)
	clear(b.spans)
	if len(b.topics) > 1024 {
		clear(b.topics)
	}
	s.batches.Put(b)
}

// Deliver implements component.Sink. It returns nil only once Kafka
// acknowledged every record of the batch (with acks = "all": every in-sync
// replica). Errors are classified for the agent:
//   - a record that cannot fit in a record batch (max_message_bytes) or
//     whose topic name is invalid: Permanent before anything is produced,
//     so the agent splits the batch and dead-letters exactly that record;
//   - MESSAGE_TOO_LARGE from the broker: TooLarge for several records (the
//     agent halves the batch), Permanent for one (dead letter);
//   - unknown topic, authorization or SASL failure, a compression the
//     broker refuses: Paused (the records stay buffered, the sink is
//     unhealthy and retried at retry.max_interval);
//   - UNKNOWN_TOPIC_ID (the topic was deleted and created again): the
//     client, which keeps the old ID, is replaced and the batch retried
//     with backoff;
//   - anything else (brokers down, leader moves, timeouts): a plain error
//     the agent retries with backoff.
func (s *Sink) Deliver(ctx context.Context, in component.Batch) error {
	if len(in.Records) == 0 {
		return nil
	}
	s.mu.Lock()
	cl := s.client
	if cl != nil {
		// Under mu: Shutdown clears the client before it waits.
		s.waits.Add(1)
	}
	s.mu.Unlock()
	if cl == nil {
		return errors.New("kafka: sink is not started")
	}
	b := s.getBatch()
	if err := s.build(b, in.Records); err != nil {
		s.putBatch(b)
		s.waits.Done()
		return err
	}
	if len(b.ptrs) == 0 { // every record was acknowledged by an earlier try
		s.forgetAcked(b.skipped)
		s.putBatch(b)
		s.waits.Done()
		return nil
	}
	authFailed := s.auth.wait()
	done := make(chan kgo.ProduceResults, 1)
	go func() {
		defer s.waits.Done()
		// ProduceSync also stops the linger of the partitions it wrote
		// to, so a batch is sent as soon as it is buffered.
		done <- cl.ProduceSync(ctx, b.ptrs...)
	}()
	var res kgo.ProduceResults
	select {
	case res = <-done:
	case <-authFailed:
		// The client would retry the connection forever: fail what it
		// buffered (it waits for requests in flight, so idempotence
		// holds) and pause.
		abort, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout.D())
		cl.AbortBufferedRecords(abort)
		cancel()
		select {
		case res = <-done:
		case <-ctx.Done():
			return fmt.Errorf("kafka: %w", ctx.Err())
		}
	case <-ctx.Done():
		// The client may still hold records it sent and cannot cancel
		// without breaking idempotence; they stay in the agent's buffer
		// too (at-least-once), and the batch memory is left to them.
		return fmt.Errorf("kafka: %w", ctx.Err())
	}
	err := s.results(b, in.Records, res)
	if err == nil {
		s.forgetAcked(b.skipped)
	}
	if errors.Is(err, kerr.UnknownTopicID) && s.renewClient(cl) {
		// Not paused: the new client may well succeed, so the agent
		// retries with its short backoff rather than at max_interval.
		retry := fmt.Errorf("kafka: topic recreated under a new ID; retrying through a new client (%s)", err)
		if n := component.AsDeliveryError(err).Delivered; n > 0 {
			return component.Partial(n, retry)
		}
		return retry
	}
	s.putBatch(b)
	if err != nil {
		de := component.AsDeliveryError(err)
		if authErr := s.auth.last(); authErr != nil && !de.Paused {
			paused := component.Paused(fmt.Errorf("kafka: %w (last error: %v)", authErr, err))
			if de.Delivered > 0 {
				paused = component.Partial(de.Delivered, paused)
			}
			return paused
		}
	}
	return err
}

// build turns buffered records into kgo records: topic, key and value
// (and headers for posthog_ingestion), checking sizes and topic names before
// anything is produced.
func (s *Sink) build(b *batch, recs [][]byte) error {
	n := len(recs)
	b.recs = grow(b.recs, n)[:0]
	b.spans = grow(b.spans, n)[:0]
	b.indexes = grow(b.indexes, n)[:0]
	b.arena = b.arena[:0]
	if s.ingestion {
		b.hdrs = grow(b.hdrs, n*maxIngestionHeaders)[:0]
	}
	var nowText []byte
	if s.ingestion {
		nowText = []byte(event.FormatTime(s.now()))
	}
	b.skipped = b.skipped[:0]
	skip := s.ackedLen() > 0
	for i, rec := range recs {
		if skip {
			if h, ok := s.isAcked(rec); ok {
				b.skipped = append(b.skipped, h)
				continue
			}
		}
		f := &b.fields
		if err := scanNeeded(rec, f, s.need); err != nil {
			return component.Permanent(fmt.Errorf("kafka: record %d: %w", i, err))
		}
		var sp recordSpans
		// Topic.
		if s.constant != "" {
			sp.topic = s.constant
		} else {
			start := len(b.arena)
			b.arena = s.topic.render(b.arena, f, s.token, true)
			name := b.arena[start:]
			t, ok := b.topics[string(name)]
			if !ok {
				t = string(name)
				if err := checkTopic(t); err != nil {
					return component.Permanent(fmt.Errorf("kafka: event %s: topic template %q: %w", recordUUID(rec), s.cfg.Topic, err))
				}
				b.topics[t] = t
			}
			b.arena = b.arena[:start]
			sp.topic = t
		}
		// Key.
		keyLen := 0
		switch {
		case len(s.key.parts) == 0:
		case s.keyField == fieldDistinctID && len(f.distinctID) > 1 && f.distinctID[0] == '"' && !hasEscape(f.distinctID):
			sp.keyInRec = true
			sp.key = span{off: offsetIn(rec, f.distinctID) + 1, n: len(f.distinctID) - 2}
			keyLen = sp.key.n
		default:
			start := len(b.arena)
			b.arena = s.key.render(b.arena, f, s.token, false)
			sp.key = span{start, len(b.arena) - start}
			keyLen = sp.key.n
		}
		// Value.
		valLen := len(rec)
		if s.ingestion {
			var err error
			b.arena, err = appendIngestion(b.arena, rec, f, s.tokenJSON, s.token, nowText, &sp.ingestion)
			if err != nil {
				return component.Permanent(fmt.Errorf("kafka: record %d: %w", i, err))
			}
			valLen = sp.ingestion.value.n
			for h := range sp.ingestion.nh {
				valLen += len(sp.ingestion.headers[h].key) + sp.ingestion.headers[h].val.n + 2
			}
		}
		if size := keyLen + valLen; size > s.maxRecord {
			return component.Permanent(fmt.Errorf("kafka: event %s is a %d-byte record, over max_message_bytes %d (less %d bytes of batch framing); raise max_message_bytes only if the topic's max.message.bytes allows it",
				recordUUID(rec), size, s.cfg.MaxMessageBytes, recordOverhead))
		}
		b.spans = append(b.spans, sp)
		b.indexes = append(b.indexes, i)
		b.recs = append(b.recs, kgo.Record{Topic: sp.topic})
	}
	// The arena stopped growing: take the slices.
	b.ptrs = grow(b.ptrs, len(b.recs))[:len(b.recs)]
	for j := range b.recs {
		r, sp, rec := &b.recs[j], &b.spans[j], recs[b.indexes[j]]
		switch {
		case sp.keyInRec:
			r.Key = sp.key.of(rec)
		case len(s.key.parts) > 0:
			r.Key = sp.key.of(b.arena)
		}
		if s.ingestion {
			r.Value = sp.ingestion.value.of(b.arena)
			start := len(b.hdrs)
			for h := range sp.ingestion.nh {
				hd := sp.ingestion.headers[h]
				b.hdrs = append(b.hdrs, kgo.RecordHeader{Key: hd.key, Value: hd.val.of(b.arena)})
			}
			r.Headers = b.hdrs[start:len(b.hdrs):len(b.hdrs)]
		} else {
			r.Value = rec
		}
		b.ptrs[j] = r
	}
	return nil
}

// results classifies the outcome of a produced batch and counts it.
func (s *Sink) results(b *batch, recs [][]byte, res kgo.ProduceResults) error {
	var failed, bytes int
	var first, paused, tooLarge, permanent error
	b.failed = grow(b.failed, len(recs))[:len(recs)]
	clear(b.failed)
	for _, r := range res {
		if r.Err == nil {
			bytes += len(r.Record.Key) + len(r.Record.Value)
			continue
		}
		failed++
		b.failed[b.indexes[b.position(r.Record)]] = true
		s.metrics.errors.WithLabelValues(errorLabel(r.Err)).Inc()
		switch kind := classify(r.Err); {
		case kind == kindPaused && paused == nil:
			paused = fmt.Errorf("topic %q: %w", r.Record.Topic, r.Err)
		case kind == kindTooLarge && tooLarge == nil:
			tooLarge = fmt.Errorf("topic %q: %w", r.Record.Topic, r.Err)
		case kind == kindPermanent && permanent == nil:
			permanent = fmt.Errorf("topic %q: %w", r.Record.Topic, r.Err)
		case first == nil:
			first = r.Err
		}
	}
	ok := len(res) - failed
	s.metrics.records.Add(float64(ok))
	s.metrics.bytes.Add(float64(bytes))
	if failed == 0 {
		return nil
	}
	// The agent retries (or splits) this batch. It drops the leading
	// records Kafka has (Partial); the others Kafka acknowledged are
	// remembered so that they are not produced twice.
	prefix := 0
	for prefix < len(recs) && !b.failed[prefix] {
		prefix++
	}
	s.rememberAcked(b, recs, prefix)
	n := len(recs)
	var err error
	switch {
	case paused != nil:
		err = component.Paused(fmt.Errorf("kafka: %d of %d records refused: %w", failed, n, paused))
	case permanent != nil:
		err = component.Permanent(fmt.Errorf("kafka: %d of %d records refused: %w", failed, n, permanent))
	case tooLarge != nil && n-prefix == 1:
		err = component.Permanent(fmt.Errorf("kafka: record refused: %w", tooLarge))
	case tooLarge != nil:
		err = component.TooLarge(fmt.Errorf("kafka: %d of %d records refused: %w", failed, n, tooLarge))
	default:
		err = fmt.Errorf("kafka: %d of %d records not acknowledged: %w", failed, n, first)
	}
	if prefix > 0 {
		err = component.Partial(prefix, err)
	}
	return err
}

// position returns the index of r in b.recs.
func (b *batch) position(r *kgo.Record) int {
	return event.ElementIndex(b.recs, r)
}

type errKind int

const (
	kindRetry errKind = iota
	kindPaused
	kindTooLarge
	kindPermanent
)

// classify maps a record's produce error to what the agent should do.
func classify(err error) errKind {
	switch {
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return kindTooLarge
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID),
		errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed), errors.Is(err, kerr.DelegationTokenAuthorizationFailed),
		errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism),
		errors.Is(err, kerr.IllegalSaslState), errors.Is(err, kerr.UnsupportedCompressionType),
		errors.Is(err, kerr.InvalidRequiredAcks):
		return kindPaused
	case errors.Is(err, kerr.InvalidTopicException), errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.PolicyViolation):
		return kindPermanent
	}
	return kindRetry
}

func errorLabel(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "record_timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.Is(err, kgo.ErrClientClosed):
		return "client_closed"
	}
	return "other"
}

func (s *Sink) ackedLen() int {
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	return len(s.acked)
}

func (s *Sink) rememberAcked(b *batch, recs [][]byte, from int) {
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	for _, i := range b.indexes {
		if i < from || b.failed[i] {
			continue
		}
		if s.acked == nil || len(s.acked) > maxAcked {
			s.acked = map[uint64]struct{}{}
		}
		s.acked[maphash.Bytes(s.seed, recs[i])] = struct{}{}
	}
}

// isAcked reports whether rec was acknowledged by an earlier try of its
// batch, with its hash.
func (s *Sink) isAcked(rec []byte) (uint64, bool) {
	h := maphash.Bytes(s.seed, rec)
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	_, ok := s.acked[h]
	return h, ok
}

// forgetAcked drops records from the memory once the batch that skipped
// them succeeded: the agent will not send them again.
func (s *Sink) forgetAcked(hashes []uint64) {
	if len(hashes) == 0 {
		return
	}
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	for _, h := range hashes {
		delete(s.acked, h)
	}
	s.metrics.skipped.Add(float64(len(hashes)))
}

func hasEscape(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return true
		}
	}
	return false
}

// offsetIn returns the offset of sub, a sub-slice of rec, within rec.
func offsetIn(rec, sub []byte) int {
	return cap(rec) - cap(sub)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s
}

// kgoLogger sends the client's warnings and errors to the sink's logger.
type kgoLogger struct{ log *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	case kgo.LogLevelDebug:
		lv = slog.LevelDebug
	}
	l.log.Log(context.Background(), lv, "kafka client: "+msg, keyvals...)
}

// authWatch tells waiting deliveries that a broker refused a connection for
// authentication. Each delivery waits for a failure that happens after it
// started, so the sink recovers by itself once the credentials work.
type authWatch struct {
	mu     sync.Mutex
	ch     chan struct{}
	err    error
	streak int // refused connections since the last good one
}

// authStreak is how many refused connections in a row pause the sink: one
// could be a broker closing connections as it stops.
const authStreak = 3

func (w *authWatch) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *authWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.streak++; w.streak < authStreak {
		return
	}
	w.err = err
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

func (w *authWatch) ok() {
	w.mu.Lock()
	w.err, w.streak = nil, 0
	w.mu.Unlock()
}

func (w *authWatch) last() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// connectHook watches the client's connection attempts for refused
// credentials.
type connectHook struct {
	w    *authWatch
	sasl bool
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h connectHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.w.ok()
		return
	}
	if hint := refusal(err, h.sasl); hint != "" {
		h.w.fail(fmt.Errorf("broker %s:%d refused the connection: %s: %w", meta.Host, meta.Port, hint, err))
	}
}

// refusal tells whether a failed connection attempt needs an operator, and
// what to check: refused credentials (a SASL error code, or, with SASL
// configured, the broker closing the connection during the exchange, which
// is what brokers that send no error code do), a certificate that does not
// verify, or plaintext against TLS.
func refusal(err error, sasl bool) string {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		first   *kgo.ErrFirstReadEOF
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return "authentication failed (check sasl.mechanism, sasl.username, sasl.password)"
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host):
		return "TLS certificate not trusted (check tls.ca_file, tls.server_name)"
	case errors.As(err, &first):
		return "TLS or SASL mismatch (check tls.enabled and sasl.mechanism against the listener)"
	case sasl && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return "authentication failed (check sasl.mechanism, sasl.username, sasl.password)"
	}
	return ""
}

// recordUUID returns the uuid of a record, for error messages.
func recordUUID(rec []byte) string {
	var f fields
	if scanNeeded(rec, &f, needUUID) != nil || f.uuid == nil {
		return "(unknown uuid)"
	}
	return string(text(f.uuid))
}
