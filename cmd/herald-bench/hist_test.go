package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Buckets tile 0..histMaxTracked without gaps or overlaps, in order.
func TestHistBucketsTile(t *testing.T) {
	var next int64
	for i := range histBuckets {
		lo, hi := histBounds(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d = [%d, %d]: index(lo) %d, index(hi) %d", i, lo, hi, histIndex(lo), histIndex(hi))
		}
		if lo >= 2*histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its values", i, lo, hi, histSub)
		}
		next = hi + 1
	}
	if next-1 != histMaxTracked {
		t.Fatalf("last bucket ends at %d, want %d", next-1, histMaxTracked)
	}
	// Out of range values are clamped into the end buckets.
	if histIndex(-5) != 0 || histIndex(math.MaxInt64) != histBuckets-1 {
		t.Errorf("clamping: index(-5) %d, index(max) %d", histIndex(-5), histIndex(math.MaxInt64))
	}
}

func TestHistPercentileExactSmall(t *testing.T) {
	var c HistCounts
	for v := int64(1); v <= 100; v++ { // all below 128: every value is exact
		c.Record(v)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {1, 1}, {50, 50}, {90, 90}, {99, 99}, {99.5, 100}, {100, 100}, {150, 100}} {
		if got := c.Percentile(tt.p); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	var empty HistCounts
	if empty.Percentile(50) != 0 || (empty.Summary(0, 0, 0) != LatencySummary{}) {
		t.Error("empty histogram: want zeros")
	}
}

// Against the exact nearest-rank percentile of the same values: never below it,
// at most one bucket width (1/64) above it.
func TestHistPercentileMatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"uniform", "lognormal", "bimodal"} {
		var h Histogram
		vals := make([]time.Duration, 0, 50000)
		for range cap(vals) {
			var v float64
			switch name {
			case "uniform":
				v = rng.Float64() * 5e6
			case "lognormal":
				v = math.Exp(rng.NormFloat64()*1.5 + 13) // ~0.5 ms median, long tail
			case "bimodal":
				v = 200e3 + rng.Float64()*1e3
				if rng.IntN(100) == 0 {
					v = 40e6 + rng.Float64()*1e6
				}
			}
			h.Record(int64(v))
			vals = append(vals, time.Duration(int64(v)))
		}
		var c HistCounts
		h.AddTo(&c)
		if c.N() != uint64(len(vals)) {
			t.Fatalf("%s: N %d, want %d", name, c.N(), len(vals))
		}
		slices.Sort(vals)
		for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
			exact, got := Percentile(vals, p), c.Percentile(p)
			if got < exact || float64(got-exact) > float64(exact)/histSub+1 {
				t.Errorf("%s p%v: histogram %v, exact %v", name, p, got, exact)
			}
		}
		var sum int64
		for _, v := range vals {
			sum += int64(v)
		}
		s := c.Summary(int64(vals[0]), int64(vals[len(vals)-1]), sum)
		if s.Min != vals[0] || s.Max != vals[len(vals)-1] || s.P99 > s.Max || s.P50 < s.Min || s.N != len(vals) ||
			s.Mean != time.Duration(sum/int64(len(vals))) {
			t.Errorf("%s: summary %+v", name, s)
		}
	}
}

// Merging histograms is adding their counts.
func TestHistMerge(t *testing.T) {
	var a, b Histogram
	a.Record(10)
	a.Record(1000)
	b.Record(1000)
	b.Record(1e9)
	var c HistCounts
	a.AddTo(&c)
	b.AddTo(&c)
	if c.N() != 4 || c.Percentile(25) != 10 || c.Percentile(75) < 1000 || c.Percentile(75) > 1015 || c.Percentile(100) < 1e9 {
		t.Errorf("merged: n %d p25 %v p75 %v p100 %v", c.N(), c.Percentile(25), c.Percentile(75), c.Percentile(100))
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Record(int64(i&0xfffff) * 97)
	}
}
