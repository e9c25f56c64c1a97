package httpsource

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func newTestServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
