package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/twmb/franz-go/pkg/kfake"
)

// testCA makes a CA and a certificate it signed for 127.0.0.1, and writes
// the CA as PEM into dir/name.
func testCA(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hogtail test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

// TestTLS: with the CA that signed the brokers' certificate (a path
// relative to the config directory) events are delivered; with another CA
// the sink pauses and says why.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert := testCA(t, dir, "ca.pem")
	testCA(t, dir, "other-ca.pem")
	c := cluster(t, kfake.SeedTopics(1, "hogtail_events"), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	for _, tc := range []struct {
		ca     string
		paused bool
	}{{"ca.pem", false}, {"other-ca.pem", true}} {
		t.Run(tc.ca, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Brokers = c.ListenAddrs()
			cfg.TLS = TLSConfig{Enabled: true, CAFile: tc.ca}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := New(cfg, component.Settings{ConfigDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			s.Start(context.Background())
			defer s.Shutdown(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = s.Deliver(ctx, component.Batch{Records: records(3)})
			switch {
			case ctx.Err() != nil:
				t.Fatalf("Deliver did not return: %v", err)
			case !tc.paused && err != nil:
				t.Fatal(err)
			case tc.paused && (err == nil || !component.AsDeliveryError(err).Paused || !strings.Contains(err.Error(), "tls.ca_file")):
				t.Fatalf("want paused naming tls.ca_file, got %v", err)
			}
		})
	}
	if hw := c.PartitionInfo("hogtail_events", 0).HighWatermark; hw != 3 {
		t.Fatalf("topic holds %d records, want 3", hw)
	}
}
