package httpsource

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// repeated reports whether a message says the same thing twice in a row
// ("invalid JSON: invalid JSON: ...", "invalid gzip body: gzip: ..."): one
// ": "-separated part that contains another.
func repeated(msg string) bool {
	parts := strings.Split(strings.ToLower(msg), ": ")
	for i := range parts {
		for j := i + 1; j < len(parts); j++ {
			a, b := strings.TrimSpace(parts[i]), strings.TrimSpace(parts[j])
			if a != "" && b != "" && (strings.Contains(a, b) || strings.Contains(b, a)) {
				return true
			}
		}
	}
	return false
}

func TestRepeated(t *testing.T) {
	for msg, want := range map[string]bool{
		"invalid JSON: invalid JSON: unexpected end of input":                           true,
		"invalid gzip body: gzip: invalid header":                                       true,
		"http source: listen on x: http source: listen":                                 true,
		"invalid gzip body: invalid header":                                             false,
		"invalid JSON: invalid character 'x' looking for beginning of value (offset 1)": false,
		"NDJSON record 2: invalid JSON: expected a value at offset 0":                   false,
	} {
		if got := repeated(msg); got != want {
			t.Errorf("repeated(%q) = %v, want %v", msg, got, want)
		}
	}
}

// TestErrorAnswers: every refusal carries CORS headers for a browser (so it
// sees the real status, not a CORS failure), a JSON body with a code, and
// a message that does not repeat itself.
func TestErrorAnswers(t *testing.T) {
	h := start(t, nil)
	for _, tc := range []struct {
		name, method, path, ctype, cenc string
		body                            []byte
		status                          int
		code                            string
	}{
		{"unknown path", "POST", "/decide/", "", "", []byte("{}"), 404, "not_found"},
		{"unknown path preflight", "OPTIONS", "/nowhere", "", "", nil, 404, "not_found"},
		{"method", "PUT", "/batch/", "", "", []byte("{}"), 405, "method_not_allowed"},
		{"method generic", "DELETE", "/ingest", "", "", nil, 405, "method_not_allowed"},
		{"bad JSON", "POST", "/batch/", "", "", []byte(`{"api_key":"phc_k","batch":[`), 400, "invalid_json"},
		{"bad JSON gzipped", "POST", "/e/", "text/plain", "", gz(t, []byte(`[{"event":`)), 400, "invalid_json"},
		{"bad gzip", "POST", "/batch/", "", "", gz(t, []byte(oneEvent))[:20], 400, "invalid_gzip"},
		{"not gzip", "POST", "/batch/", "", "gzip", []byte(oneEvent), 400, "invalid_gzip"},
		{"bad form", "POST", "/e/", "application/x-www-form-urlencoded", "", []byte("data=%zz"), 400, "invalid_form"},
		{"not an event", "POST", "/batch/", "", "", []byte(`{"api_key":"phc_k","batch":[5]}`), 400, "invalid_event"},
		{"bad event field", "POST", "/batch/", "", "", []byte(`{"api_key":"phc_k","batch":[{"event":1,"distinct_id":"u"}]}`), 400, "invalid_event"},
		{"media type", "POST", "/batch/", "multipart/form-data; boundary=x", "", []byte(oneEvent), 415, "unsupported_content_type"},
		{"no token", "POST", "/batch/", "", "", []byte(`{"batch":[{"event":"a","distinct_id":"u"}]}`), 401, "ingest_key_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rd *bytes.Reader
			if tc.body != nil {
				rd = bytes.NewReader(tc.body)
			} else {
				rd = bytes.NewReader(nil)
			}
			req, err := http.NewRequest(tc.method, h.url+tc.path, rd)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", "https://shop.example.com")
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.cenc != "" {
				req.Header.Set("Content-Encoding", tc.cenc)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var rb struct {
				Code  string `json:"code"`
				Error string `json:"error"`
			}
			err = json.NewDecoder(resp.Body).Decode(&rb)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || rb.Code != tc.code {
				t.Fatalf("%d %s (%s), want %d %s", resp.StatusCode, rb.Code, rb.Error, tc.status, tc.code)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example.com" {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("Access-Control-Allow-Credentials %q", got)
			}
			if rb.Error == "" || repeated(rb.Error) {
				t.Errorf("message %q", rb.Error)
			}
			t.Logf("%d %s: %s", resp.StatusCode, rb.Code, rb.Error)
		})
	}
}
