package syslogsource

import (
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// fields is what an event is built from: a parsed message, from the fast
// path or from go-syslog.
type fields struct {
	format   any // format5424 or format3164
	hasPri   bool
	pri      uint8
	hasTS    bool
	ts       time.Time
	hostname string // "" when absent (go-syslog: nil or "-")
	appname  string
	procid   string
	msgid    string
	message  string
	sd       map[string]map[string]string
}

// fromGoSyslog copies go-syslog's result into f; false when there is none.
func (f *fields) fromGoSyslog(m syslog.Message) bool {
	var base *syslog.Base
	*f = fields{}
	switch t := m.(type) {
	case *rfc5424.SyslogMessage:
		base, f.format = &t.Base, format5424
		if t.StructuredData != nil {
			f.sd = *t.StructuredData
		}
	case *rfc3164.SyslogMessage:
		base, f.format = &t.Base, format3164
	}
	if base == nil {
		return false
	}
	if base.Priority != nil {
		f.hasPri, f.pri = true, *base.Priority
	}
	if base.Timestamp != nil && !base.Timestamp.IsZero() {
		f.hasTS, f.ts = true, *base.Timestamp
	}
	f.hostname = optString(base.Hostname)
	f.appname = optString(base.Appname)
	f.procid = optString(base.ProcID)
	f.msgid = optString(base.MsgID)
	f.message = optString(base.Message)
	return true
}

// fastPath parses the common shape of well-formed RFC 5424 messages
// without go-syslog's state machine and time.Parse, which take most of the
// time of a busy connection:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
//
// (no structured data, a timestamp with 'T' and 'Z' or a numeric offset).
// Anything else, or anything it is unsure of, is declined (false) and
// goes to go-syslog unchanged. For an input it accepts, the result is
// exactly what go-syslog gives (FuzzFastPath checks it).
type fastPath struct {
	// Strings of the last message, reused when the bytes repeat (a
	// connection sends the same host and app names again and again).
	last [4]string
	// The last timestamp's text and value.
	lastTS  []byte
	lastT   time.Time
	lastOff int
	lastLoc *time.Location
	// text, when set, holds the text of messages (see blocks.text).
	text *blocks
}

// Lengths RFC 5424 (and go-syslog) allow for the header fields.
var fieldMax = [4]int{255, 48, 128, 32}

func (fp *fastPath) parse(b []byte, f *fields) bool {
	// <PRI>
	if len(b) < 4 || b[0] != '<' {
		return false
	}
	i, pri := 1, 0
	for ; i < len(b) && i <= 4 && isDigit(b[i]); i++ {
		pri = pri*10 + int(b[i]-'0')
	}
	if digits := i - 1; digits == 0 || digits > 3 || (digits > 1 && b[1] == '0') || pri > 191 {
		return false
	}
	// ">1 "
	if i+3 > len(b) || b[i] != '>' || b[i+1] != '1' || b[i+2] != ' ' {
		return false
	}
	i += 3
	// TIMESTAMP
	sp := indexSpace(b, i)
	if sp < 0 {
		return false
	}
	hasTS := false
	var ts time.Time
	if sp-i != 1 || b[i] != '-' { // "-" is no timestamp
		var ok bool
		if ts, ok = fp.timestamp(b[i:sp]); !ok {
			return false
		}
		// go-syslog's zero time (0001-01-01T00:00:00Z) counts as none.
		hasTS = !ts.IsZero()
	}
	i = sp + 1
	// HOSTNAME APP-NAME PROCID MSGID
	var strs [4]string
	for k := 0; k < 4; k++ {
		j := i
		for j < len(b) && b[j] > ' ' && b[j] < 0x7f {
			j++
		}
		if j == len(b) || b[j] != ' ' || j == i || j-i > fieldMax[k] {
			return false
		}
		if j-i != 1 || b[i] != '-' {
			if string(b[i:j]) != fp.last[k] {
				fp.last[k] = string(b[i:j])
			}
			strs[k] = fp.last[k]
		}
		i = j + 1
	}
	// STRUCTURED-DATA: only the nil value.
	if i >= len(b) || b[i] != '-' {
		return false
	}
	i++
	msg := ""
	if i < len(b) {
		if b[i] != ' ' {
			return false
		}
		if fp.text != nil {
			msg = fp.text.text(b[i+1:])
		} else {
			msg = string(b[i+1:])
		}
	}
	*f = fields{
		format: format5424, hasPri: true, pri: uint8(pri), hasTS: hasTS, ts: ts,
		hostname: strs[0], appname: strs[1], procid: strs[2], msgid: strs[3], message: msg,
	}
	return true
}

func indexSpace(b []byte, from int) int {
	for j := from; j < len(b); j++ {
		if b[j] == ' ' {
			return j
		}
	}
	return -1
}

// timestamp parses YYYY-MM-DDTHH:MM:SS[.1-6 digits](Z|+HH:MM|-HH:MM) with
// the ranges go-syslog's grammar and time.Parse enforce.
func (fp *fastPath) timestamp(b []byte) (time.Time, bool) {
	if fp.lastTS != nil && string(b) == string(fp.lastTS) {
		return fp.lastT, true
	}
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if b[i] == '.' {
		i++
		n := 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			nsec = nsec*10 + int(b[i]-'0')
			n++
		}
		if n < 1 || n > 6 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	loc := time.UTC
	switch b[i] {
	case 'Z':
		if i+1 != len(b) {
			return time.Time{}, false
		}
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return time.Time{}, false
		}
		oh, ok1 := digits(b[i+1 : i+3])
		om, ok2 := digits(b[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		off := oh*3600 + om*60
		if b[i] == '-' {
			off = -off
		}
		if fp.lastLoc == nil || fp.lastOff != off {
			fp.lastOff, fp.lastLoc = off, time.FixedZone("", off)
		}
		loc = fp.lastLoc
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	fp.lastTS = append(fp.lastTS[:0], b...)
	fp.lastT = t
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
