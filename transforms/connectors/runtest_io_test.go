package connectors

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunTestAnswersEachTypedLine: with input that arrives line by line (a
// person typing), each event's result reaches stdout before the next line
// is sent, although stdout is written in blocks when input is piped.
func TestRunTestAnswersEachTypedLine(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		var stderr syncBuffer
		err := RunTest(context.Background(), []string{"testdata/plugins/key-order"}, TestOptions{}, inR, outW, &stderr)
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr.String())
		}
		outW.CloseWithError(err)
		done <- err
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for i := 1; i <= 3; i++ {
		if _, err := fmt.Fprintf(inW, `{"uuid":"0190a0a0-0000-7000-8000-00000000000%d","event":"e%d","distinct_id":"d"}`+"\n", i, i); err != nil {
			t.Fatal(err)
		}
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout ended before event %d: %v", i, <-done)
			}
			if want := fmt.Sprintf(`"event":"e%d"`, i); !strings.Contains(l, want) {
				t.Fatalf("line %d: %s lacks %s", i, l, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no output for typed event %d while stdin waits", i)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		t.Errorf("unexpected output %s", l)
	}
}

// TestRunTestStreamsStayInOrder: piped in at once, several events with a
// webhook each, stdout and stderr into one writer (a terminal): every
// event's line comes before its webhook, and both before the next event's.
// A line longer than the read buffer is read whole.
func TestRunTestStreamsStayInOrder(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 5; i++ {
		pad := ""
		if i == 2 {
			pad = strings.Repeat("x", 200<<10)
		}
		fmt.Fprintf(&in, `{"uuid":"0190a0a0-0000-7000-8000-00000000000%d","event":"e%d","distinct_id":"d","properties":{"pad":%q}}`+"\n", i, i, pad)
	}
	var both syncBuffer
	err := RunTest(context.Background(), []string{"testdata/plugins/webhook"}, TestOptions{Configs: []string{"testdata/plugins/webhook:url=https://example.com/hook"}},
		strings.NewReader(strings.TrimSuffix(in.String(), "\n")), &both, &both)
	if err != nil {
		t.Fatalf("RunTest: %v\n%s", err, both.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(both.String()), "\n") {
		kind := "event"
		if strings.HasPrefix(l, `{"webhook"`) {
			kind = "webhook"
		} else if !strings.HasPrefix(l, `{"uuid"`) {
			continue // a log line
		}
		for n := 0; n < 5; n++ {
			if strings.Contains(l, fmt.Sprintf(`"event":"e%d"`, n)) || strings.Contains(l, fmt.Sprintf(`\"event\":\"e%d\"`, n)) {
				got = append(got, fmt.Sprintf("%s %d", kind, n))
			}
		}
	}
	var want []string
	for n := 0; n < 5; n++ {
		want = append(want, fmt.Sprintf("event %d", n), fmt.Sprintf("webhook %d", n))
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("order:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
}
