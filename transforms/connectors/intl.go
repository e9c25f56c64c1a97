package connectors

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // timeZone options must work on hosts without zoneinfo

	"github.com/go-playground/locales"
	lcurrency "github.com/go-playground/locales/currency"
	"github.com/go-playground/locales/de"
	"github.com/go-playground/locales/de_AT"
	"github.com/go-playground/locales/de_CH"
	"github.com/go-playground/locales/de_DE"
	"github.com/go-playground/locales/en"
	"github.com/go-playground/locales/en_AU"
	"github.com/go-playground/locales/en_CA"
	"github.com/go-playground/locales/en_GB"
	"github.com/go-playground/locales/en_IE"
	"github.com/go-playground/locales/en_IN"
	"github.com/go-playground/locales/en_US"
	"github.com/go-playground/locales/es"
	"github.com/go-playground/locales/es_ES"
	"github.com/go-playground/locales/es_MX"
	"github.com/go-playground/locales/fr"
	"github.com/go-playground/locales/fr_CA"
	"github.com/go-playground/locales/fr_FR"
	"github.com/go-playground/locales/it"
	"github.com/go-playground/locales/it_IT"
	"github.com/go-playground/locales/ja"
	"github.com/go-playground/locales/ja_JP"
	"github.com/go-playground/locales/nl"
	"github.com/go-playground/locales/nl_NL"
	"github.com/go-playground/locales/pl"
	"github.com/go-playground/locales/pl_PL"
	"github.com/go-playground/locales/pt"
	"github.com/go-playground/locales/pt_BR"
	"github.com/go-playground/locales/pt_PT"
	"github.com/go-playground/locales/sv"
	"github.com/go-playground/locales/sv_SE"
	"golang.org/x/text/currency"
	"golang.org/x/text/language"
)

// Locale data for Intl and the toLocale*String methods comes from CLDR
// through go-playground/locales (names, date/time patterns, number symbols,
// currency and percent patterns) and golang.org/x/text (locale matching,
// currency digits). See README "Intl and toLocale*String" for what is
// covered.

// defaultLocale is what Node uses without a locale (and LANG unset).
const defaultLocale = "en-US"

type localeEntry struct {
	tag    string
	new    func() locales.Translator
	parent string // CLDR parent, for data a regional locale inherits
}

func localeTable() []localeEntry {
	return []localeEntry{
		{"en-US", en_US.New, "en"}, {"en", en.New, ""}, {"en-GB", en_GB.New, "en"}, {"en-AU", en_AU.New, "en"},
		{"en-CA", en_CA.New, "en"}, {"en-IE", en_IE.New, "en"}, {"en-IN", en_IN.New, "en"},
		{"de", de.New, ""}, {"de-DE", de_DE.New, "de"}, {"de-AT", de_AT.New, "de"}, {"de-CH", de_CH.New, "de"},
		{"fr", fr.New, ""}, {"fr-FR", fr_FR.New, "fr"}, {"fr-CA", fr_CA.New, "fr"},
		{"es", es.New, ""}, {"es-ES", es_ES.New, "es"}, {"es-MX", es_MX.New, "es"},
		{"it", it.New, ""}, {"it-IT", it_IT.New, "it"},
		{"nl", nl.New, ""}, {"nl-NL", nl_NL.New, "nl"},
		{"pt", pt.New, ""}, {"pt-BR", pt_BR.New, "pt"}, {"pt-PT", pt_PT.New, "pt"},
		{"pl", pl.New, ""}, {"pl-PL", pl_PL.New, "pl"},
		{"sv", sv.New, ""}, {"sv-SE", sv_SE.New, "sv"},
		{"ja", ja.New, ""}, {"ja-JP", ja_JP.New, "ja"},
	}
}

// intlLocale is one resolved locale with its derived date patterns.
type intlLocale struct {
	tag    string
	tr     locales.Translator
	parent locales.Translator
	// patterns derived once from the CLDR formats (see derivePattern).
	short, medium, long, full, timeShort, timeMedium []token
	hour12                                           bool
	// am and pm are the markers of a 12-hour locale.
	am, pm string
}

// intlData is the read-only locale registry, built on first use.
type intlData struct {
	matcher language.Matcher
	tags    []string
	byTag   map[string]*intlLocale
	// codes maps ISO currency codes to go-playground's currency enum.
	codes map[string]lcurrency.Type
}

var loadIntl = sync.OnceValue(func() *intlData {
	table := localeTable()
	d := &intlData{byTag: map[string]*intlLocale{}, codes: map[string]lcurrency.Type{}}
	trs := map[string]locales.Translator{}
	var tags []language.Tag
	for _, e := range table {
		trs[e.tag] = e.new()
	}
	for _, e := range table {
		l := &intlLocale{tag: e.tag, tr: trs[e.tag], parent: trs[e.parent]}
		l.derive()
		d.byTag[e.tag] = l
		d.tags = append(d.tags, e.tag)
		tags = append(tags, language.MustParse(e.tag))
	}
	d.matcher = language.NewMatcher(tags)
	// en's currency names are the ISO codes in enum order.
	us := trs["en-US"]
	for t := lcurrency.Type(0); t <= lcurrency.ZWR; t++ {
		code := strings.TrimRight(us.FmtCurrency(0, 0, t), "0123456789.,\u00a0 ")
		d.codes[code] = t
	}
	return d
})

// resolve picks the supported locale that best matches the requested list
// (BCP 47 tags); none requested or none matching gives the default.
func (d *intlData) resolve(requested []string) (*intlLocale, error) {
	var tags []language.Tag
	for _, r := range requested {
		t, err := language.Parse(r)
		if _, unknown := err.(language.ValueError); unknown {
			continue // well-formed but unknown: Node skips it too
		}
		if err != nil {
			return nil, fmt.Errorf("Incorrect locale information provided")
		}
		tags = append(tags, t)
	}
	if len(tags) == 0 {
		return d.byTag[defaultLocale], nil
	}
	_, idx, conf := d.matcher.Match(tags...)
	if conf == language.No {
		return d.byTag[defaultLocale], nil
	}
	return d.byTag[d.tags[idx]], nil
}

// ---- date patterns ----

// token is one field or literal of a date/time pattern. Fields: y (full
// year), yy, M (numeric), MMM/MMMM (names), d, E/EEEE (weekday names), h
// (12-hour), H (24-hour), m, s, a (AM/PM), z (zone); pad marks two digits.
type token struct {
	field string
	pad   bool
	lit   string
}

// probe times: fields with distinct values, and single-digit ones to see
// the padding.
var (
	probeA = time.Date(2033, 11, 22, 13, 45, 56, 0, time.UTC)
	probeB = time.Date(2033, 1, 2, 3, 4, 5, 0, time.UTC)
)

// derive recovers the locale's patterns from the CLDR formatting functions
// by formatting probe times and finding each field in the output.
func (l *intlLocale) derive() {
	l.short = l.derivePattern(l.tr.FmtDateShort, false)
	l.medium = l.derivePattern(l.tr.FmtDateMedium, false)
	l.long = l.derivePattern(l.tr.FmtDateLong, false)
	l.full = l.derivePattern(l.tr.FmtDateFull, false)
	l.timeShort = l.derivePattern(l.tr.FmtTimeShort, true)
	l.timeMedium = l.derivePattern(l.tr.FmtTimeMedium, true)
	l.hour12 = hasField(l.timeMedium, "h")
	if l.hour12 && l.pm == "" {
		// Some regional data (en-AU) lost its markers but kept the space
		// before them; period() takes the parent language's.
		for _, p := range []*[]token{&l.timeShort, &l.timeMedium} {
			if n := len(*p); n > 0 && (*p)[n-1].field == "" && strings.TrimSpace((*p)[n-1].lit) == "" {
				*p = append(*p, token{field: "a"})
			}
		}
	}
}

func (l *intlLocale) derivePattern(f func(time.Time) string, clock bool) []token {
	a, b := f(probeA), f(probeB)
	tr := l.tr
	// Candidates in the order they are tried at each position: longer
	// strings first so "2033" wins over "33" and names over digits.
	type cand struct {
		a, b, field string
	}
	cands := []cand{
		{tr.WeekdayWide(probeA.Weekday()), tr.WeekdayWide(probeB.Weekday()), "EEEE"},
		{tr.MonthWide(probeA.Month()), tr.MonthWide(probeB.Month()), "MMMM"},
		{tr.WeekdayAbbreviated(probeA.Weekday()), tr.WeekdayAbbreviated(probeB.Weekday()), "E"},
		{tr.MonthAbbreviated(probeA.Month()), tr.MonthAbbreviated(probeB.Month()), "MMM"},
		{"2033", "2033", "y"},
		{"13", "03", "H"}, {"13", "3", "H"},
		{"01", "03", "h"}, {"1", "3", "h"},
		{"45", "04", "m"}, {"56", "05", "s"},
		{"11", "01", "M"}, {"11", "1", "M"},
		{"22", "02", "d"}, {"22", "2", "d"},
		{"33", "33", "yy"},
		{"UTC", "UTC", "z"},
	}
	var toks []token
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, token{lit: lit.String()})
			lit.Reset()
		}
	}
	for len(a) > 0 {
		matched := false
		for _, c := range cands {
			if c.a != "" && strings.HasPrefix(a, c.a) && strings.HasPrefix(b, c.b) {
				flush()
				toks = append(toks, token{field: c.field, pad: len(c.b) == 2 && c.b[0] == '0'})
				a, b = a[len(c.a):], b[len(c.b):]
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		// The AM/PM marker differs between the probes (pm vs am).
		if i, j := letters(a), letters(b); clock && i > 0 && j > 0 && a[:i] != b[:j] {
			flush()
			toks = append(toks, token{field: "a"})
			l.pm, l.am = a[:i], b[:j]
			a, b = a[i:], b[j:]
			continue
		}
		if len(b) == 0 || a[0] != b[0] {
			// Cannot align: keep the rest as a literal (never seen with
			// the shipped locales; the test of every locale guards it).
			lit.WriteString(a)
			break
		}
		lit.WriteByte(a[0])
		a, b = a[1:], b[1:]
	}
	flush()
	return toks
}

func letters(s string) int {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 {
			i++
			continue
		}
		break
	}
	return i
}

// ---- DateTimeFormat ----

// dtOptions are the resolved options of a DateTimeFormat.
type dtOptions struct {
	weekday, year, month, day, hour, minute, second string
	dateStyle, timeStyle                            string
	hour12                                          *bool
	timeZone                                        string
	loc                                             *time.Location
}

// dtFormat formats t with the locale and options, as ICU does for the cases
// README lists.
func (l *intlLocale) dtFormat(t time.Time, o *dtOptions) string {
	t = t.In(o.loc)
	var date, clock string
	if o.dateStyle != "" || o.timeStyle != "" {
		switch o.dateStyle {
		case "full":
			date = l.tr.FmtDateFull(t)
		case "long":
			date = l.tr.FmtDateLong(t)
		case "medium":
			date = l.tr.FmtDateMedium(t)
		case "short":
			date = l.tr.FmtDateShort(t)
		}
		switch o.timeStyle {
		case "full", "long":
			clock = l.render(l.timeMedium, t, o) + " " + zoneName(t, o)
		case "medium":
			clock = l.render(l.timeMedium, t, o)
		case "short":
			clock = l.render(l.timeShort, t, o)
		}
	} else {
		date = l.datePart(t, o)
		clock = l.timePart(t, o)
	}
	switch {
	case date == "":
		return clock
	case clock == "":
		return date
	}
	return date + ", " + clock
}

func zoneName(t time.Time, o *dtOptions) string {
	if o.timeZone == "UTC" {
		return "UTC"
	}
	name, _ := t.Zone()
	return name
}

// datePart picks the CLDR pattern for the requested date fields and keeps
// only those fields.
func (l *intlLocale) datePart(t time.Time, o *dtOptions) string {
	if o.weekday == "" && o.year == "" && o.month == "" && o.day == "" {
		return ""
	}
	keep := map[string]bool{"y": o.year != "", "M": o.month != "", "d": o.day != "", "E": o.weekday != ""}
	if o.weekday != "" && o.year == "" && o.month == "" && o.day == "" {
		return l.weekdayName(t, o.weekday)
	}
	if o.month != "" && o.year == "" && o.day == "" && o.weekday == "" && isTextual(o.month) {
		return l.monthName(t, o.month)
	}
	var pat []token
	switch {
	case isTextual(o.month) && o.weekday != "":
		pat = l.full
	case o.month == "long" || o.month == "narrow":
		pat = l.long
	case o.month == "short":
		pat = l.medium
		if !hasField(pat, "MMM") && !hasField(pat, "MMMM") {
			pat = l.long
		}
	default:
		pat = l.short
	}
	kept := filter(pat, keep)
	if len(kept) < len(pat) && !(o.weekday != "" && !isTextual(o.month) && o.year != "" && o.month != "" && o.day != "") {
		// A subset of the fields: ICU uses the widths asked for, not the
		// full pattern's.
		for i := range kept {
			kept[i].pad = false
		}
	}
	if !isTextual(o.month) && o.weekday != "" {
		// A numeric date with a weekday: ICU writes "Tue, 3/5/2024".
		return l.weekdayName(t, o.weekday) + ", " + l.render(kept, t, o)
	}
	return l.render(kept, t, o)
}

func (l *intlLocale) timePart(t time.Time, o *dtOptions) string {
	if o.hour == "" && o.minute == "" && o.second == "" {
		return ""
	}
	pat := l.timeShort
	if o.second != "" {
		pat = l.timeMedium
	}
	keep := map[string]bool{"H": o.hour != "", "h": o.hour != "", "a": o.hour != "", "m": o.minute != "", "s": o.second != ""}
	return l.render(filter(pat, keep), t, o)
}

func isTextual(month string) bool { return month == "long" || month == "short" || month == "narrow" }

func hasField(p []token, f string) bool {
	for _, t := range p {
		if t.field == f {
			return true
		}
	}
	return false
}

// filter drops the fields not in keep, each with the literal that joins it
// to the rest (the one after it, or before it when it is last).
func filter(p []token, keep map[string]bool) []token {
	kind := func(f string) string {
		switch f {
		case "yy":
			return "y"
		case "MMM", "MMMM":
			return "M"
		case "EEEE":
			return "E"
		}
		return f
	}
	out := append([]token(nil), p...)
	for i := 0; i < len(out); i++ {
		f := out[i].field
		if f == "" || keep[kind(f)] || (f == "z") {
			continue
		}
		switch {
		case i+1 < len(out) && out[i+1].field == "" && i+2 < len(out):
			out = append(out[:i], out[i+2:]...)
		case i > 0 && out[i-1].field == "":
			out = append(out[:i-1], out[i+1:]...)
			i--
		default:
			out = append(out[:i], out[i+1:]...)
		}
		i--
	}
	return out
}

func (l *intlLocale) weekdayName(t time.Time, style string) string {
	switch style {
	case "short":
		return l.tr.WeekdayAbbreviated(t.Weekday())
	case "narrow":
		return l.tr.WeekdayNarrow(t.Weekday())
	}
	return l.tr.WeekdayWide(t.Weekday())
}

func (l *intlLocale) monthName(t time.Time, style string) string {
	switch style {
	case "short":
		return l.tr.MonthAbbreviated(t.Month())
	case "narrow":
		return l.tr.MonthNarrow(t.Month())
	}
	return l.tr.MonthWide(t.Month())
}

func two(b []byte, n int, pad bool) []byte {
	if pad && n < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(n), 10)
}

// render writes the pattern for t, with the widths and names the options
// ask for and the hour cycle of the locale unless hour12 overrides it.
func (l *intlLocale) render(p []token, t time.Time, o *dtOptions) string {
	h12 := l.hour12
	if o.hour12 != nil {
		h12 = *o.hour12
	}
	var b []byte
	for _, tk := range p {
		switch tk.field {
		case "":
			b = append(b, tk.lit...)
		case "y", "yy":
			if o.year == "2-digit" || (tk.field == "yy" && o.year == "") {
				b = two(b, t.Year()%100, true)
			} else {
				b = strconv.AppendInt(b, int64(t.Year()), 10)
			}
		case "M":
			b = two(b, int(t.Month()), tk.pad || o.month == "2-digit")
		case "MMM", "MMMM":
			style := o.month
			if !isTextual(style) {
				style = map[string]string{"MMM": "short", "MMMM": "long"}[tk.field]
			}
			b = append(b, l.monthName(t, style)...)
		case "d":
			b = two(b, t.Day(), tk.pad || o.day == "2-digit")
		case "E", "EEEE":
			style := o.weekday
			if style == "" {
				style = map[string]string{"E": "short", "EEEE": "long"}[tk.field]
			}
			b = append(b, l.weekdayName(t, style)...)
		case "h", "H":
			hr := t.Hour()
			pad := tk.pad || o.hour == "2-digit"
			if h12 && !l.hour12 {
				pad = o.hour == "2-digit" // the locale's HH does not apply to h
			}
			if h12 {
				hr %= 12
				if hr == 0 {
					hr = 12
				}
			} else if l.hour12 {
				pad = true // ICU writes HH when a 12-hour locale gets hour12: false
			}
			b = two(b, hr, pad)
		case "m":
			b = two(b, t.Minute(), true)
		case "s":
			b = two(b, t.Second(), true)
		case "a":
			if !h12 {
				// No marker on a 24-hour clock, nor the space before it.
				b = []byte(strings.TrimRight(string(b), " \u202f\u00a0"))
				continue
			}
			b = append(b, l.period(t)...)
		case "z":
			b = append(b, zoneName(t, o)...)
		}
	}
	if h12 && !l.hour12 && hasField(p, "H") {
		// A 24-hour locale asked for hour12: its pattern has no marker.
		b = append(b, ' ')
		b = append(b, l.period(t)...)
	}
	return string(b)
}

// period is the AM/PM marker: the locale's own for a 12-hour locale; for a
// 24-hour one asked for hour12, English's for an English locale, else
// CLDR root's upper-case AM/PM (through en-US), as Node gives for de, fr,
// it, pl, pt. For en and en-US go-playground/locales has CLDR's lower-case
// variant, but Node uses the upper-case format form there.
func (l *intlLocale) period(t time.Time) string {
	am, pm := l.am, l.pm
	upper := l.tag == "en" || l.tag == "en-US"
	if pm == "" {
		d := loadIntl()
		if strings.HasPrefix(l.tag, "en-") {
			am, pm = d.byTag["en"].am, d.byTag["en"].pm
		} else {
			am, pm, upper = d.byTag[defaultLocale].am, d.byTag[defaultLocale].pm, true
		}
	}
	s := am
	if t.Hour() >= 12 {
		s = pm
	}
	if upper {
		return strings.ToUpper(s)
	}
	return s
}

// ---- NumberFormat ----

// nfOptions are the resolved options of a NumberFormat.
type nfOptions struct {
	style        string // decimal, percent, currency
	currency     string
	minFD, maxFD int
	grouping     bool
}

// nfFormat formats x as ICU does: the shortest decimal form of x rounded
// half away from zero to maxFD digits, at least minFD, grouped by three.
func (l *intlLocale) nfFormat(x float64, o *nfOptions) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 0):
		if x < 0 {
			return l.sym().Minus() + "∞"
		}
		return "∞"
	}
	neg := math.Signbit(x)
	digits := strconv.FormatFloat(math.Abs(x), 'f', -1, 64)
	if o.style == "percent" {
		digits = shiftDecimal(digits, 2)
	}
	num := l.groupDigits(roundDecimal(digits, o.minFD, o.maxFD), o.grouping)
	switch o.style {
	case "percent":
		num = strings.Replace(l.tr.FmtPercent(0, 0), "0", num, 1)
	case "currency":
		num = l.currencyPattern(o.currency, num)
	}
	if neg {
		// ICU keeps the sign of -0 and of what rounds to 0: "-0".
		return l.sym().Minus() + num
	}
	return num
}

// symbols are the number symbols every go-playground translator has,
// outside its Translator interface.
type symbols interface {
	Decimal() string
	Group() string
	Minus() string
}

type plainSymbols struct{}

func (plainSymbols) Decimal() string { return "." }
func (plainSymbols) Group() string   { return "," }
func (plainSymbols) Minus() string   { return "-" }

func (l *intlLocale) sym() symbols {
	if s, ok := l.tr.(symbols); ok {
		return s
	}
	return plainSymbols{}
}

// currencyPattern places num in the locale's currency pattern, with the
// symbol from the locale or, as CLDR inherits it, its parent: it formats 7
// in that currency and puts num where the 7 (with its decimals) was.
func (l *intlLocale) currencyPattern(code, num string) string {
	t, ok := loadIntl().codes[code]
	if !ok {
		return code + "\u00a0" + num
	}
	p := l.tr.FmtCurrency(7, 0, t)
	if strings.Contains(p, code) && l.parent != nil {
		if pp := l.parent.FmtCurrency(7, 0, t); !strings.Contains(pp, code) {
			p = strings.Replace(p, code, symbolOf(pp), 1)
		}
	}
	i := strings.IndexByte(p, '7')
	if i < 0 {
		return code + "\u00a0" + num
	}
	j := i
	for j < len(p) && strings.IndexByte("0123456789.,", p[j]) >= 0 {
		j++
	}
	return p[:i] + num + p[j:]
}

// symbolOf is the currency symbol in a formatted amount ("€7.00" → "€").
func symbolOf(s string) string {
	return strings.Trim(s, "0123456789.,-\u00a0\u202f ")
}

// shiftDecimal multiplies a decimal string by 10^n exactly.
func shiftDecimal(s string, n int) string {
	ip, fp, _ := strings.Cut(s, ".")
	for ; n > 0; n-- {
		if fp == "" {
			ip += "0"
		} else {
			ip, fp = ip+fp[:1], fp[1:]
		}
	}
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	if fp == "" {
		return ip
	}
	return ip + "." + fp
}

// roundDecimal rounds a decimal string half away from zero to maxFD
// fraction digits and pads it to minFD.
func roundDecimal(s string, minFD, maxFD int) string {
	ip, fp, _ := strings.Cut(s, ".")
	if len(fp) > maxFD {
		up := fp[maxFD] >= '5'
		fp = fp[:maxFD]
		if up {
			d := []byte(ip + fp)
			i := len(d) - 1
			for ; i >= 0; i-- {
				if d[i] == '9' {
					d[i] = '0'
					continue
				}
				d[i]++
				break
			}
			if i < 0 {
				d = append([]byte{'1'}, d...)
			}
			ip, fp = string(d[:len(d)-len(fp)]), string(d[len(d)-len(fp):])
		}
	}
	fp = strings.TrimRight(fp, "0")
	for len(fp) < minFD {
		fp += "0"
	}
	if fp == "" {
		return ip
	}
	return ip + "." + fp
}

// groupDigits writes a plain decimal string with the locale's separators.
func (l *intlLocale) groupDigits(s string, grouping bool) string {
	ip, fp, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i := range ip {
		if grouping && i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteString(l.sym().Group())
		}
		b.WriteByte(ip[i])
	}
	if hasFrac {
		b.WriteString(l.sym().Decimal())
		b.WriteString(fp)
	}
	return b.String()
}

// currencyDigits is the number of fraction digits of a currency (2 for
// EUR, 0 for JPY), from CLDR through x/text.
func currencyDigits(code string) (int, error) {
	u, err := currency.ParseISO(code)
	if err != nil {
		return 0, err
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale, nil
}
