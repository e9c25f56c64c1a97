package httpsource

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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

// childCommand prepares a run of this test binary limited to test, with
// env naming a fresh directory: the test, seeing env set, plays the child.
func childCommand(t *testing.T, env, test string) (*exec.Cmd, string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env+"="+dir)
	return cmd, dir
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
