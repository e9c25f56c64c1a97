// Package realworld holds the connectors and events of hogtail's connector
// benchmark against Node (bench/connbench and the transforms/connectors
// benchmarks): connectors written in the style of popular PostHog plugins,
// and events shaped like real product traffic.
package realworld

import (
	"bufio"
	"fmt"
	"os"
)

// userAgents are user agents as browsers, apps and bots send them; real
// traffic repeats a few of them heavily, so events cycle through them with
// the first ones most often.
var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
	"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 12; Pixel 6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 354.0.0.29.90",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240905.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.86 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/132.0 Mobile/15E148 Safari/605.1.15",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"curl/8.5.0",
	"Mozilla/5.0 (Windows NT 6.3; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
}

var eventNames = []string{"$pageview", "Order Completed", "signupStarted", "$pageview", "add_to_cart", "Checkout Step Viewed", "$pageleave", "feature flag called"}

var paths = []string{"/", "/Pricing/", "/products/Item-42/", "/blog/2026/launch-week", "/checkout/confirm/", "/docs/getting-started/", "/account/settings"}

// WriteEvents writes n events as JSON lines to path (see AppendEvent).
func WriteEvents(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var b []byte
	for i := 0; i < n; i++ {
		b = AppendEvent(b[:0], i)
		if _, err := w.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// AppendEvent appends event i as a JSON line: 350 to 650 bytes, nested
// properties, URLs with query strings, a user agent, personal data.
func AppendEvent(b []byte, i int) []byte {
	// Skewed: half the events use the first four user agents.
	ua := userAgents[i%4]
	if i%2 == 1 {
		ua = userAgents[(i/2)%len(userAgents)]
	}
	user := i % 5000
	b = fmt.Appendf(b, `{"uuid":"0193a0b4-0000-7000-8000-%012x","event":%q,"distinct_id":"user-%d","timestamp":"2026-11-27T01:50:%02d.123Z","properties":{`,
		i, eventNames[i%len(eventNames)], user, i%60)
	b = fmt.Appendf(b, `"$raw_user_agent":%q,"$current_url":"https://Shop.Example.com%s?utm_source=newsletter&utm_medium=email&ref=abc%d&b=2&a=1#top",`,
		ua, paths[i%len(paths)], i%97)
	b = fmt.Appendf(b, `"$referrer":"https://www.google.com/search?q=hogtail&gclid=Cj0K%d","$ip":"203.0.113.%d","$lib":"web","$screen_density":2,`, i%1000, i%250)
	b = fmt.Appendf(b, `"email":"user%d@example.com","name":"User %d","planName":"pro","cartSize":%d,`, user, user, i%7)
	b = fmt.Appendf(b, `"customer":{"email":"user%d@example.com","tier":"gold","address":{"city":"Berlin","zip":"10115"}},`, user)
	b = fmt.Appendf(b, `"order":{"total":%d.9,"currency":"EUR","items":[{"sku":"A-1","qty":2}],"card":{"number":"4111111111111111","brand":"visa"}},`, 10+i%200)
	b = fmt.Appendf(b, `"$set":{"email":"user%d@example.com","plan":"pro"}}}`, user)
	b = append(b, '\n')
	return b
}
