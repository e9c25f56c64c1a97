package event

import "testing"

func sampleEvent() *Event {
	return &Event{
		UUID: "0190a3f0-0000-7000-8000-000000000001", Event: "log", DistinctID: "web-1",
		Timestamp: "2024-01-02T03:04:05.678Z",
		Properties: Map{
			{"message", "GET /api/cart 200 12ms user=42 region=eu-west-1 trace=8f3a9b2c"},
			{"level", "info"}, {"service", "checkout"}, {"seq", int64(123456)},
			{"$host", "web-1"}, {"$file", "/var/log/app/app.log"}, {"$offset", int64(987654321)},
		},
	}
}

// BenchmarkAppendJSON is the per-event encoding cost on the buffer write path.
func BenchmarkAppendJSON(b *testing.B) {
	e := sampleEvent()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = e.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkParseEvent is the decoding cost (HTTP source, console text).
func BenchmarkParseEvent(b *testing.B) {
	data := sampleEvent().AppendJSON(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		var e Event
		if err := e.UnmarshalJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendJSONEscaped encodes a log line that is itself JSON (an
// escape every few bytes), the common case of the file source's text codec.
func BenchmarkAppendJSONEscaped(b *testing.B) {
	e := sampleEvent()
	e.Properties.Set("message", `{"seq":1,"ts":"2026-11-27T09:00:00.000Z","level":"info","service":"checkout","msg":"request served xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = e.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkParseEscaped decodes an object whose string holds escaped JSON
// (a journal entry's MESSAGE, a syslog line that is JSON, an event posted
// with a JSON-encoded property): runs of plain bytes between escapes.
func BenchmarkParseEscaped(b *testing.B) {
	data := []byte(`{"MESSAGE":"{\"seq\":1,\"ts\":\"2026-11-27T09:00:00.000Z\",\"level\":\"info\",\"service\":\"checkout\",\"msg\":\"request served xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}","PRIORITY":"6","_SYSTEMD_UNIT":"checkout.service"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseValue(data); err != nil {
			b.Fatal(err)
		}
	}
}
