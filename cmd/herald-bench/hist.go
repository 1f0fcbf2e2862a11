package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latency histogram with log-linear buckets, in the manner of HdrHistogram:
// values below 2^histSubBits+1 ns get a bucket each; above, every power of two
// is split into 2^histSubBits equal buckets, so a bucket is at most 1/64 (1.6%)
// of its values wide. The top bucket holds everything from about 2^38 ns (275 s)
// up. 2112 buckets, 16.5 KiB.
const (
	histSubBits    = 6
	histSub        = 1 << histSubBits // 64
	histMaxExp     = 32               // exponents 0..histMaxExp-1 above the linear range
	histBuckets    = 2*histSub + (histMaxExp-1)*histSub
	histMaxTracked = int64(1)<<(histMaxExp+histSubBits) - 1
)

// histIndex maps a value (ns, clamped to 0..histMaxTracked) to its bucket.
func histIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	if v > histMaxTracked {
		v = histMaxTracked
	}
	u := uint64(v)
	if u < 2*histSub {
		return int(u) // exact: 0..127
	}
	exp := bits.Len64(u) - (histSubBits + 1) // u>>exp is in [64, 128)
	return histSub + exp*histSub + int(u>>exp) - histSub
}

// histBounds returns the smallest and largest value of bucket i.
func histBounds(i int) (lo, hi int64) {
	if i < 2*histSub {
		return int64(i), int64(i)
	}
	exp := (i - histSub) / histSub
	mant := int64(i-histSub-exp*histSub) + histSub
	return mant << exp, (mant+1)<<exp - 1
}

// Histogram records latencies. One goroutine records (Record is not a
// read-modify-write across goroutines); others may read at any time, since
// every count is atomic. Each subscriber owns one, so an update never
// contends with another core.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
}

// Record adds one value in nanoseconds.
func (h *Histogram) Record(ns int64) { h.counts[histIndex(ns)].Add(1) }

// AddTo adds h's counts into c.
func (h *Histogram) AddTo(c *HistCounts) {
	for i := range h.counts {
		if n := h.counts[i].Load(); n != 0 {
			c.counts[i] += n
			c.n += n
		}
	}
}

// HistCounts is a merged, plain copy of one or more Histograms.
type HistCounts struct {
	counts [histBuckets]uint64
	n      uint64
}

// Record adds one value (for building counts directly, e.g. in tests).
func (c *HistCounts) Record(ns int64) {
	c.counts[histIndex(ns)]++
	c.n++
}

// N is the number of values.
func (c *HistCounts) N() uint64 { return c.n }

// Percentile returns the nearest-rank percentile p (0..100): the highest value
// of the bucket that holds the smallest value with at least p% of the values at
// or below it (HdrHistogram's "highest equivalent value"), so it is exact below
// 128 ns and at most 1.6% high above. It returns 0 when there are no values.
func (c *HistCounts) Percentile(p float64) time.Duration {
	if c.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(c.n)))
	rank = min(max(rank, 1), c.n)
	var seen uint64
	for i, n := range c.counts {
		seen += n
		if seen >= rank {
			_, hi := histBounds(i)
			return time.Duration(hi)
		}
	}
	return time.Duration(histMaxTracked) // unreachable: seen ends at n
}

// Summary is the LatencySummary of the counts, with the exact minimum, maximum
// and sum that the caller tracked beside them; percentiles are clamped to
// [min, max].
func (c *HistCounts) Summary(minNS, maxNS, sumNS int64) LatencySummary {
	if c.n == 0 {
		return LatencySummary{}
	}
	clamp := func(d time.Duration) time.Duration {
		return min(max(d, time.Duration(minNS)), time.Duration(maxNS))
	}
	return LatencySummary{
		N:    int(c.n),
		Min:  time.Duration(minNS),
		Mean: time.Duration(sumNS / int64(c.n)),
		P50:  clamp(c.Percentile(50)),
		P90:  clamp(c.Percentile(90)),
		P99:  clamp(c.Percentile(99)),
		Max:  time.Duration(maxNS),
	}
}
