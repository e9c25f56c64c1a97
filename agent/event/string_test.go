package event

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// appendStringBytewise is the reference: one byte at a time.
func appendStringBytewise(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case jsonSafe[c]:
				dst = append(dst, c)
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, `\n`...)
			case c == '\r':
				dst = append(dst, `\r`...)
			case c == '\t':
				dst = append(dst, `\t`...)
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	got := string(AppendString([]byte("prefix"), s))
	want := "prefix" + string(appendStringBytewise(nil, s))
	if got != want {
		t.Fatalf("AppendString(%q)\n got %s\nwant %s", s, got, want)
	}
	var back string
	if err := json.Unmarshal([]byte(got[len("prefix"):]), &back); err != nil {
		t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, got, err)
	}
	if back != string([]rune(s)) {
		t.Fatalf("AppendString(%q) decodes to %q", s, back)
	}
}

func TestAppendString(t *testing.T) {
	long := strings.Repeat("x", 37)
	for _, s := range []string{
		"", "a", "abcdefgh", "abcdefghi", `"`, `\`, "\x00", "\x1f", "\x7f", " ",
		long + `"` + long, long + "\n" + long + "\t\r", `{"seq":1,"msg":"` + long + `"}`,
		"héllo wörld, ünïcode " + long, "\u2028\u2029" + long + "\u2028",
		"bad \xff utf8 \xc3" + long + "\xe2\x82", long + "\xf0\x9f\x98\x80" + long,
		"0123456\"", "01234567\"", "012345678\"", "\x1f1234567", "1234567\x1f",
		"!!!!!!!!", "########", "[[[[[[[[\\", "\x80\x80\x80\x80\x80\x80\x80\x80",
	} {
		checkAppendString(t, s)
	}
	// Every byte value at every position of a 16-byte window, alone and
	// beside words full of quotes.
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 16; pos++ {
			b := []byte("abcdefghijklmnop")
			b[pos] = byte(c)
			checkAppendString(t, string(b))
			checkAppendString(t, string(b)+`"\"`)
			checkAppendString(t, `""""""""`+string(b)+`\\\\\\\\`)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", `{"a":"b\n"}`, "x\u2028y", "\xff\xfe", strings.Repeat("ab\"", 9)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkAppendString(t, s) })
}

// BenchmarkAppendStringKeys is the short strings of every event: keys,
// uuid, host, path.
func BenchmarkAppendStringKeys(b *testing.B) {
	keys := []string{"uuid", "message", "$file", "$host", "$offset", "/var/log/app/app.log", "web-1", "0190a3f0-0000-7000-8000-000000000001"}
	buf := make([]byte, 0, 1024)
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		for _, k := range keys {
			buf = AppendString(buf, k)
		}
	}
}

// BenchmarkAppendString compares the 8-byte scan with the byte-wise
// reference on a JSON log line (the bench workload's shape).
func BenchmarkAppendString(b *testing.B) {
	line := `{"seq":123456,"ts":"2026-11-27T01:50:09.123456Z","level":"info","service":"checkout","user":"user-3847","msg":"order processed","path":"/api/v1/orders/123456","pad":"` + strings.Repeat("x", 110) + `"}`
	for _, bc := range []struct {
		name string
		fn   func([]byte, string) []byte
	}{{"swar", AppendString}, {"bytewise", appendStringBytewise}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(len(line)))
			for i := 0; i < b.N; i++ {
				buf = bc.fn(buf[:0], line)
			}
		})
	}
}
