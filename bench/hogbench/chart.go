package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
)

// glyphs is a 5x7 bitmap font (upper case, digits, a little punctuation):
// enough for chart labels without a font dependency.
var glyphs = map[rune][7]string{
	'A': {"01110", "10001", "10001", "11111", "10001", "10001", "10001"},
	'B': {"11110", "10001", "10001", "11110", "10001", "10001", "11110"},
	'C': {"01110", "10001", "10000", "10000", "10000", "10001", "01110"},
	'D': {"11100", "10010", "10001", "10001", "10001", "10010", "11100"},
	'E': {"11111", "10000", "10000", "11110", "10000", "10000", "11111"},
	'F': {"11111", "10000", "10000", "11110", "10000", "10000", "10000"},
	'G': {"01110", "10001", "10000", "10111", "10001", "10001", "01111"},
	'H': {"10001", "10001", "10001", "11111", "10001", "10001", "10001"},
	'I': {"01110", "00100", "00100", "00100", "00100", "00100", "01110"},
	'J': {"00111", "00010", "00010", "00010", "00010", "10010", "01100"},
	'K': {"10001", "10010", "10100", "11000", "10100", "10010", "10001"},
	'L': {"10000", "10000", "10000", "10000", "10000", "10000", "11111"},
	'M': {"10001", "11011", "10101", "10101", "10001", "10001", "10001"},
	'N': {"10001", "10001", "11001", "10101", "10011", "10001", "10001"},
	'O': {"01110", "10001", "10001", "10001", "10001", "10001", "01110"},
	'P': {"11110", "10001", "10001", "11110", "10000", "10000", "10000"},
	'Q': {"01110", "10001", "10001", "10001", "10101", "10010", "01101"},
	'R': {"11110", "10001", "10001", "11110", "10100", "10010", "10001"},
	'S': {"01111", "10000", "10000", "01110", "00001", "00001", "11110"},
	'T': {"11111", "00100", "00100", "00100", "00100", "00100", "00100"},
	'U': {"10001", "10001", "10001", "10001", "10001", "10001", "01110"},
	'V': {"10001", "10001", "10001", "10001", "10001", "01010", "00100"},
	'W': {"10001", "10001", "10001", "10101", "10101", "10101", "01010"},
	'X': {"10001", "10001", "01010", "00100", "01010", "10001", "10001"},
	'Y': {"10001", "10001", "10001", "01010", "00100", "00100", "00100"},
	'Z': {"11111", "00001", "00010", "00100", "01000", "10000", "11111"},
	'0': {"01110", "10001", "10011", "10101", "11001", "10001", "01110"},
	'1': {"00100", "01100", "00100", "00100", "00100", "00100", "01110"},
	'2': {"01110", "10001", "00001", "00010", "00100", "01000", "11111"},
	'3': {"11111", "00010", "00100", "00010", "00001", "10001", "01110"},
	'4': {"00010", "00110", "01010", "10010", "11111", "00010", "00010"},
	'5': {"11111", "10000", "11110", "00001", "00001", "10001", "01110"},
	'6': {"00110", "01000", "10000", "11110", "10001", "10001", "01110"},
	'7': {"11111", "00001", "00010", "00100", "01000", "01000", "01000"},
	'8': {"01110", "10001", "10001", "01110", "10001", "10001", "01110"},
	'9': {"01110", "10001", "10001", "01111", "00001", "00010", "01100"},
	'-': {"00000", "00000", "00000", "11111", "00000", "00000", "00000"},
	'.': {"00000", "00000", "00000", "00000", "00000", "01100", "01100"},
	'/': {"00000", "00001", "00010", "00100", "01000", "10000", "00000"},
	'(': {"00010", "00100", "01000", "01000", "01000", "00100", "00010"},
	')': {"01000", "00100", "00010", "00010", "00010", "00100", "01000"},
	':': {"00000", "01100", "01100", "00000", "01100", "01100", "00000"},
	'%': {"11000", "11001", "00010", "00100", "01000", "10011", "00011"},
	',': {"00000", "00000", "00000", "00000", "01100", "00100", "01000"},
	'_': {"00000", "00000", "00000", "00000", "00000", "00000", "11111"},
}

const fontScale = 2

// textWidth is the width of s in pixels.
func textWidth(s string) int { return len(s) * 6 * fontScale }

// drawText draws s with its top-left corner at (x, y).
func drawText(img *image.RGBA, x, y int, s string, c color.Color) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if ok {
			for row, bits := range g {
				for col, bit := range bits {
					if bit == '1' {
						fill(img, x+col*fontScale, y+row*fontScale, fontScale, fontScale, c)
					}
				}
			}
		}
		x += 6 * fontScale
	}
}

func fill(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{c}, image.Point{}, draw.Src)
}

var shipperColors = map[string]color.RGBA{
	"hogtail":   {0xf5, 0x4e, 0x00, 0xff},
	"syslog-ng": {0x1d, 0x4a, 0xff, 0xff},
	"rsyslog":   {0x2e, 0x9e, 0x44, 0xff},
	// Fluent Bit's blue-green, and lighter shades for the equal-durability
	// variants.
	"fluent-bit":            {0x00, 0x8f, 0xa8, 0xff},
	"fluent-bit sync full":  {0x7f, 0xc7, 0xd3, 0xff},
	"syslog-ng disk-buffer": {0x8e, 0xa4, 0xff, 0xff},
}

// Chart draws two panels of horizontal bars, throughput and max RSS, one
// group per scenario, one bar per shipper.
func Chart(results []Result) ([]byte, error) {
	var scenarios, shippers []string
	seenSc, seenSh := map[string]bool{}, map[string]bool{}
	byKey := map[string]Result{}
	for _, r := range results {
		if r.Skipped != "" {
			continue
		}
		if !seenSc[r.Scenario] {
			seenSc[r.Scenario] = true
			scenarios = append(scenarios, r.Scenario)
		}
		if !seenSh[r.Shipper] {
			seenSh[r.Shipper] = true
			shippers = append(shippers, r.Shipper)
		}
		byKey[r.Scenario+"/"+r.Shipper] = r
	}
	const (
		barH    = 18
		gap     = 12
		labelW  = 250
		panelW  = 560
		valueW  = 150
		top     = 100
		panelGp = 40
	)
	groupH := len(shippers)*barH + gap
	h := top + len(scenarios)*groupH + 50
	w := labelW + 2*(panelW+valueW) + panelGp + 20
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, 0, 0, w, h, color.White)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	drawText(img, 10, 10, "hogtail bench: throughput and memory per shipper", black)
	x := 10
	for _, sh := range shippers {
		fill(img, x, 38, 14, 14, shipperColors[sh])
		drawText(img, x+20, 38, sh, black)
		x += 20 + textWidth(sh) + 30
	}
	panels := []struct {
		title string
		value func(Result) float64
		label func(float64) string
	}{
		{"events/s", func(r Result) float64 { return r.EventsPerSec }, func(v float64) string { return fmt.Sprintf("%.0fk", v/1000) }},
		{"max rss mb", func(r Result) float64 { return r.MaxRSSMB }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	}
	for pi, p := range panels {
		x0 := labelW + pi*(panelW+valueW+panelGp)
		drawText(img, x0, top-20, p.title, black)
		maxV := 0.0
		for _, r := range byKey {
			maxV = max(maxV, p.value(r))
		}
		if maxV == 0 {
			maxV = 1
		}
		fill(img, x0, top-4, 1, len(scenarios)*groupH, grey)
		for si, sc := range scenarios {
			y := top + si*groupH
			if pi == 0 {
				drawText(img, 10, y+(len(shippers)*barH-14)/2, sc, black)
			}
			for hi, sh := range shippers {
				r, ok := byKey[sc+"/"+sh]
				if !ok {
					continue
				}
				v := p.value(r)
				bw := int(v / maxV * panelW)
				by := y + hi*barH
				fill(img, x0, by, max(bw, 1), barH-3, shipperColors[sh])
				lbl := p.label(v)
				if pi == 0 && r.Lost > 0 {
					lbl += " lost " + percent(r.Lost, r.N)
				}
				drawText(img, x0+bw+4, by+1, lbl, black)
			}
		}
	}
	drawText(img, 10, h-30, "events/s: distinct seqs received / wall time. rss: peak VmHWM. rsyslog delivers over tcp (no omhttp).", black)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
