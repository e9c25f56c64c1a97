package syslogsource

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzFastPath checks the fast path against go-syslog: for every input it
// either declines or gives exactly the fields go-syslog gives, with the
// machines of format = "auto" and format = "rfc5424". The seed corpus (the
// golden messages, the framing cases, and variations of the benchmark's
// message) runs in every go test.
func FuzzFastPath(f *testing.F) {
	for _, c := range loadMsgCases(f) {
		f.Add(c.bytes(f))
	}
	for _, c := range loadFramingCases(f) {
		f.Add([]byte(c.Stream))
		for _, fr := range c.Frames {
			f.Add([]byte(fr.Msg))
		}
	}
	for _, s := range []string{
		"<14>1 2026-11-27T01:50:09.123456Z benchhost app 4242 - - {\"seq\":1,\"msg\":\"hello\"}",
		"<0>1 2026-02-29T23:59:59Z h a p m -",
		"<191>1 2024-02-29T23:59:59.1+23:59 h a p m - x",
		"<192>1 2024-02-29T23:59:59Z h a p m - x",
		"<01>1 2024-02-29T23:59:59Z h a p m - x",
		"<13>1 2025-02-29T00:00:00Z h a p m - leap",
		"<13>1 2025-04-31T00:00:00Z h a p m - april",
		"<13>1 2025-01-01T24:00:00Z h a p m - hour",
		"<13>1 2025-01-01T00:00:60Z h a p m - second",
		"<13>1 2025-01-01T00:00:00.1234567Z h a p m - frac",
		"<13>1 2025-01-01T00:00:00.Z h a p m - frac",
		"<13>1 2025-01-01t00:00:00z h a p m - lower",
		"<13>1 2025-01-01T00:00:00-24:00 h a p m - offset",
		"<13>1 2025-01-01T00:00:00+05:60 h a p m - offset",
		"<13>1 0001-01-01T00:00:00Z h a p m - zero time",
		"<13>1 - - - - - -",
		"<13>1 - - - - - - ",
		"<13>1 - -- -a a- - - dashes",
		"<13>1 - h a p m -x",
		"<13>1 - h a p m [a@1 b=\"c\"] sd",
		"<13>1 - h\x80 a p m - high byte",
		"<13>1 - h a p m - \xef\xbb\xbf\xff bom",
		"<13>1 - h a p m - line\nbreak",
		"<13>10 - h a p m - version",
		"<13>2 - h a p m - version",
		"<13> 1 - h a p m - space",
		"<13>1  - h a p m - two spaces",
		"<13>1 - " + strings.Repeat("h", 255) + " a p m - long host",
		"<13>1 - " + strings.Repeat("h", 256) + " a p m - too long host",
		"<13>1 - h " + strings.Repeat("a", 49) + " p m - too long app",
		"<13>1 - h a " + strings.Repeat("p", 129) + " m - too long procid",
		"<13>1 - h a p " + strings.Repeat("m", 33) + " - too long msgid",
	} {
		f.Add([]byte(s))
	}
	gs := map[string]*parser{}
	for _, format := range []string{FormatAuto, FormatRFC5424} {
		gs[format] = newParser(testConfig(format), "testhost")
	}
	var fp fastPath
	f.Fuzz(func(t *testing.T, in []byte) {
		in = trimFrame(in)
		var fast fields
		if !fp.parse(in, &fast) {
			return
		}
		for format, p := range gs {
			parsed, err := p.m.Parse(in)
			if err != nil {
				t.Fatalf("%s: the fast path accepts %q, go-syslog fails: %v", format, in, err)
			}
			var ref fields
			if !ref.fromGoSyslog(parsed) {
				t.Fatalf("%s: go-syslog returned no message for %q", format, in)
			}
			if d := diffFields(fast, ref); d != "" {
				t.Fatalf("%s: %q: fast path and go-syslog differ: %s", format, in, d)
			}
		}
	})
}

// diffFields describes how a (fast path) differs from b (go-syslog);
// timestamps are compared as instants and offsets.
func diffFields(a, b fields) string {
	var d []string
	if a.format != b.format {
		d = append(d, fmt.Sprintf("format %v != %v", a.format, b.format))
	}
	if a.hasPri != b.hasPri || a.pri != b.pri {
		d = append(d, fmt.Sprintf("pri %v/%d != %v/%d", a.hasPri, a.pri, b.hasPri, b.pri))
	}
	_, ao := a.ts.Zone()
	_, bo := b.ts.Zone()
	if a.hasTS != b.hasTS || !a.ts.Equal(b.ts) || ao != bo {
		d = append(d, fmt.Sprintf("timestamp %v/%v != %v/%v", a.hasTS, a.ts, b.hasTS, b.ts))
	}
	for _, s := range [][3]string{
		{"hostname", a.hostname, b.hostname}, {"appname", a.appname, b.appname},
		{"procid", a.procid, b.procid}, {"msgid", a.msgid, b.msgid}, {"message", a.message, b.message},
	} {
		if s[1] != s[2] {
			d = append(d, fmt.Sprintf("%s %q != %q", s[0], s[1], s[2]))
		}
	}
	if len(a.sd) != len(b.sd) || fmt.Sprint(a.sd) != fmt.Sprint(b.sd) {
		d = append(d, fmt.Sprintf("structured data %v != %v", a.sd, b.sd))
	}
	return strings.Join(d, "; ")
}

// TestFastPathAccepts: the fast path takes the shapes it is meant for
// (otherwise it would be dead code that FuzzFastPath cannot fault), and
// the events it builds are the ones go-syslog's fields build.
func TestFastPathAccepts(t *testing.T) {
	for _, in := range []string{
		"<14>1 2026-11-27T01:50:09.123456Z benchhost app 4242 - - {\"seq\":1}",
		"<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com evntslog - ID47 - An application event",
		"<13>1 - - - - - -",
		"<0>1 2024-02-29T23:59:59Z h a p m - leap day",
	} {
		var fp fastPath
		var f fields
		if !fp.parse([]byte(in), &f) {
			t.Errorf("declined %q", in)
			continue
		}
		now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
		with := newParser(testConfig(""), "testhost")
		without := newParser(testConfig(""), "testhost")
		without.fast = nil
		a := with.toEvent([]byte(in), "192.0.2.7", frameInfo{}, now)
		b := without.toEvent([]byte(in), "192.0.2.7", frameInfo{}, now)
		a.UUID, b.UUID = "", ""
		if ja, jb := string(a.AppendJSON(nil)), string(b.AppendJSON(nil)); ja != jb {
			t.Errorf("%q:\nfast path %s\ngo-syslog %s", in, ja, jb)
		}
	}
}

// BenchmarkToEvent builds events from one message with and without the
// fast path (same run, so the ratio is what counts): the shape hogbench's
// syslog-tcp sends, which the fast path takes, and one with structured
// data, which it declines.
func BenchmarkToEvent(b *testing.B) {
	shapes := []struct{ name, msg string }{
		{"no-sd", `<14>1 2026-11-27T01:50:09.123456Z benchhost app 4242 - - {"seq":123456,"level":"info","msg":"user ada added item 9 to the cart","route":"/cart","status":200,"duration_ms":12}`},
		{"sd", `<165>1 2026-11-27T01:00:00.003Z web-01.example.com checkout 4242 ID47 [req@32473 id="7" route="/cart"] user ada added item 7 to the cart`},
	}
	for _, sh := range shapes {
		for _, fast := range []bool{true, false} {
			name := sh.name + "/go-syslog"
			if fast {
				name = sh.name + "/fast-path"
			}
			b.Run(name, func(b *testing.B) {
				p := newParser(testConfig(""), "testhost")
				if !fast {
					p.fast = nil
				}
				msg := []byte(sh.msg)
				b.ReportAllocs()
				for b.Loop() {
					if p.toEvent(msg, "127.0.0.1", frameInfo{}, time.Now) == nil {
						b.Fatal("no event")
					}
				}
			})
		}
	}
}
