package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func msList(vals ...int) []time.Duration {
	out := make([]time.Duration, len(vals))
	for i, v := range vals {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	ten := msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p0", msList(7), 0, 7 * time.Millisecond},
		{"single p99", msList(7), 99, 7 * time.Millisecond},
		{"100 p0", hundred, 0, 1 * time.Millisecond},
		{"100 p50", hundred, 50, 50 * time.Millisecond},
		{"100 p90", hundred, 90, 90 * time.Millisecond},
		{"100 p99", hundred, 99, 99 * time.Millisecond},
		{"100 p99.5", hundred, 99.5, 100 * time.Millisecond},
		{"100 p100", hundred, 100, 100 * time.Millisecond},
		{"10 p50", ten, 50, 5 * time.Millisecond},
		{"10 p51", ten, 51, 6 * time.Millisecond},
		{"10 p90", ten, 90, 9 * time.Millisecond},
		{"10 p99", ten, 99, 10 * time.Millisecond},
		{"above 100 clamps", ten, 150, 10 * time.Millisecond},
		{"below 0 clamps", ten, -5, 1 * time.Millisecond},
	}
	for _, c := range cases {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: Percentile(p=%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	in := msList(9, 1, 5, 3, 7, 2, 10, 4, 8, 6)
	orig := slices.Clone(in)
	s := Summarize(in)
	want := LatencySummary{
		N: 10, Min: 1 * time.Millisecond, Mean: 5500 * time.Microsecond,
		P50: 5 * time.Millisecond, P90: 9 * time.Millisecond, P99: 10 * time.Millisecond, Max: 10 * time.Millisecond,
	}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if !slices.Equal(in, orig) {
		t.Error("Summarize reordered its input")
	}
	if (Summarize(nil) != LatencySummary{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tnode\nVmPeak:\t  999999 kB\nVmRSS:\t   54321 kB\nRssAnon:\t 1 kB\n"
	got, err := parseVmRSS(strings.NewReader(status))
	if err != nil || got != 54321 {
		t.Fatalf("parseVmRSS = %d, %v; want 54321", got, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Error("missing VmRSS: want error")
	}
	if _, err := parseVmRSS(strings.NewReader("VmRSS:\t12 MB\n")); err == nil {
		t.Error("bad unit: want error")
	}
}

func TestReadRSSKBSelf(t *testing.T) {
	kb, err := ReadRSSKB(selfPIDForTest())
	if err != nil || kb <= 0 {
		t.Fatalf("ReadRSSKB(self) = %d, %v", kb, err)
	}
	if _, err := ReadRSSKB(1 << 30); err == nil {
		t.Error("nonexistent pid: want error")
	}
}

func TestRaiseNoFile(t *testing.T) {
	cur, err := RaiseNoFile(16)
	if err != nil || cur < 16 {
		t.Fatalf("RaiseNoFile(16) = %d, %v", cur, err)
	}
	if _, err := RaiseNoFile(1 << 40); err == nil {
		t.Error("RaiseNoFile(huge): want error")
	}
}
