package connectors

import (
	"encoding/json"
	"testing"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/bench/realworld"
)

// regexpStyles are ways of writing the same regexp work in a connector;
// each body runs once per iteration with ua (a real user agent, cycling
// over the benchmark's list) and key (a property name) in scope. The
// figures back the regexp advice in the README.
var regexpStyles = []struct {
	name, setup, body string
	plain             bool // goja's own test, without the memo
}{
	{"lookahead/test", `const re = /(?=.*Mobile)(?=.*(iPhone|Android))/`, `sink = re.test(ua)`, false},
	{"lookahead/test-without-memo", `const re = /(?=.*Mobile)(?=.*(iPhone|Android))/`, `sink = re.test(ua)`, true},
	{"lookahead/exec", `const re = /(?=.*Mobile)(?=.*(iPhone|Android))/`, `sink = re.exec(ua) !== null`, false},
	{"lookahead/split-in-two-exec", `const a = /Mobile/, b = /iPhone|Android/`, `sink = a.exec(ua) !== null && b.exec(ua) !== null`, false},
	{"rules/for-of", uaRules, `for (const [name, re] of rules) { const m = re.exec(ua); if (m) { sink = name; break } }`, false},
	{"rules/for-of-no-destructuring", uaRules, `for (const r of rules) { const m = r[1].exec(ua); if (m) { sink = r[0]; break } }`, false},
	{"rules/indexed", uaRules, `for (let j = 0; j < rules.length; j++) { const m = rules[j][1].exec(ua); if (m) { sink = rules[j][0]; break } }`, false},
	{"unique-inputs/test", `const re = /^user-[0-9]+$/`, `sink = re.test('user-' + i)`, false},
	{"unique-inputs/test-without-memo", `const re = /^user-[0-9]+$/`, `sink = re.test('user-' + i)`, true},
	{"literal/in-function", ``, `sink = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_\-.\s]+/g, ' ')`, false},
	{"literal/hoisted", `const camel = /([a-z0-9])([A-Z])/g, seps = /[_\-.\s]+/g`, `sink = key.replace(camel, '$1 $2').replace(seps, ' ')`, false},
	{"split/regexp", ``, `sink = '131.0.6778.73'.split(/[._]/)`, false},
	{"split/regexp-after-exec-reassigned", `RegExp.prototype.exec = RegExp.prototype.exec`, `sink = '131.0.6778.73'.split(/[._]/)`, false},
}

// uaRules is the start of the user-agent connector's rule list.
const uaRules = `const rules = [
  ['aol', /AOLShield\/([0-9._]+)/], ['edge', /Edge\/([0-9._]+)/], ['edge-ios', /EdgiOS\/([0-9._]+)/],
  ['yandexbrowser', /YaBrowser\/([0-9._]+)/], ['kakaotalk', /KAKAOTALK\s([0-9.]+)/],
  ['samsung', /SamsungBrowser\/([0-9.]+)/], ['silk', /\bSilk\/([0-9._-]+)\b/], ['miui', /MiuiBrowser\/([0-9.]+)$/],
  ['beaker', /BeakerBrowser\/([0-9.]+)/], ['edge-chromium', /EdgA?\/([0-9.]+)/],
  ['chromium-webview', /(?!Chrom.*OPR)wv\).*Chrom(?:e|ium)\/([0-9.]+)(:?\s|$)/],
  ['chrome', /(?!Chrom.*OPR)Chrom(?:e|ium)\/([0-9.]+)(:?\s|$)/], ['firefox', /Firefox\/([0-9.]+)(?:\s|$)/],
  ['safari', /Version\/([0-9._]+).*Safari/],
]`

// BenchmarkRegexpStyles measures regexpStyles in a runtime with the
// connectors' regexp memo, one iteration per op:
//
//	go test -run '^$' -bench RegexpStyles -count 5 ./transforms/connectors/
func BenchmarkRegexpStyles(b *testing.B) {
	// The benchmark's user agents, in the order and with the repeats of
	// its events.
	var list []string
	for i := 0; i < 48; i++ {
		var ev struct {
			Properties struct {
				UA string `json:"$raw_user_agent"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(realworld.AppendEvent(nil, i), &ev); err != nil {
			b.Fatal(err)
		}
		list = append(list, ev.Properties.UA)
	}
	uas, err := json.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range regexpStyles {
		b.Run(s.name, func(b *testing.B) {
			vm := goja.New()
			if !s.plain {
				if _, err := installRegexpMemo(vm); err != nil {
					b.Fatal(err)
				}
			}
			v, err := vm.RunString(`(function () {
				const uas = ` + string(uas) + `
				const keys = ['signupStarted', 'Checkout Step Viewed', 'add_to_cart', 'HTTPServer.name', 'plan_type']
				let sink
				` + s.setup + `
				return function (n) {
					for (let i = 0; i < n; i++) {
						const ua = uas[i % uas.length], key = keys[i % keys.length]
						` + s.body + `
					}
					return sink
				}
			})()`)
			if err != nil {
				b.Fatal(err)
			}
			run, _ := goja.AssertFunction(v)
			b.ResetTimer()
			if _, err := run(goja.Undefined(), vm.ToValue(b.N)); err != nil {
				b.Fatal(err)
			}
		})
	}
}
