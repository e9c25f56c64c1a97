package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"testing"
)

// TestChartFromResults draws the chart of a results file and checks it is a
// PNG with one group per scenario that ran.
func TestChartFromResults(t *testing.T) {
	b, err := os.ReadFile("testdata/results.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	out, err := Chart(rep.Results)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w < 800 || h < 150 {
		t.Fatalf("chart is %dx%d", w, h)
	}
	if dst := os.Getenv("HOGBENCH_CHART_OUT"); dst != "" {
		os.WriteFile(dst, out, 0o644)
	}
}
