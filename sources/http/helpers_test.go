package httpsource

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

func newTestServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// publishAddr is how a child process running a source tells its test the
// address it listens on: a file in dir, renamed into place.
func publishAddr(dir string, a net.Addr) {
	os.WriteFile(filepath.Join(dir, "addr.tmp"), []byte(a.String()), 0o644)
	os.Rename(filepath.Join(dir, "addr.tmp"), filepath.Join(dir, "addr"))
}

// childAddr waits for the address a child published with publishAddr.
func childAddr(t *testing.T, dir string) []byte {
	t.Helper()
	var addr []byte
	componenttest.Eventually(t, 30*time.Second, "the child to listen", func() bool {
		var err error
		addr, err = os.ReadFile(filepath.Join(dir, "addr"))
		return err == nil
	})
	return addr
}
