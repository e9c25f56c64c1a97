package connectors

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSmoke(t *testing.T) {
	in := `{"event":"signup","distinct_id":"u1","timestamp":"2026-01-01T00:00:00.000Z","properties":{"$current_url":"https://Example.com/Pricing/?a=1#top","email":"a@b.c","$user_agent":"Googlebot/2.1","keep":1},"$set":{"email":"a@b.c"}}
{"event":"pageview","distinct_id":"u2","properties":{"x":1}}
`
	var out, errb bytes.Buffer
	ex := "../../examples/connectors/"
	err := RunTest(context.Background(), []string{ex + "hello", ex + "property-filter", ex + "url-normalizer", ex + "bot-detector", ex + "first-time-event", ex + "schema-enforcer", ex + "slack-webhook"},
		[]string{ex + "property-filter:properties=email", ex + "slack-webhook:webhook_url=https://hooks.slack.test/x", ex + "schema-enforcer:required_properties=keep"}, strings.NewReader(in), &out, &errb)
	t.Logf("err=%v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
}
