package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two (under 1.6% error), so that a long run
// at a high rate needs constant memory. The maximum is exact.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	histSub     = 7 // 2^histSub exact buckets, then 2^(histSub-1) per octave
	histBuckets = 1<<histSub + (64-histSub)<<(histSub-1)
)

func histBucket(v uint64) int {
	if v < 1<<histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSub // ≥ 1
	m := v >> e                  // in [2^(histSub-1), 2^histSub)
	return 1<<histSub + (e-1)<<(histSub-1) + int(m-1<<(histSub-1))
}

// histMid returns the middle of bucket i.
func histMid(i int) uint64 {
	if i < 1<<histSub {
		return uint64(i)
	}
	i -= 1 << histSub
	e := i>>(histSub-1) + 1
	m := uint64(i&(1<<(histSub-1)-1)) + 1<<(histSub-1)
	lo := m << e
	return lo + (uint64(1)<<e)/2
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histBucket(uint64(d))]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q ≤ 1), at most the maximum.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histMid(i)), h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
