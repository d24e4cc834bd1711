// Package progress reports how far a long command has got, on its standard
// error: bytes copied by backup and restore, blobs re-wrapped by the key
// backend commands.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Style is how a Reporter prints.
type Style int

const (
	// Bytes prints one line per report, "label: 1.5 MiB of ~10.0 MiB
	// (15%)" ("label: 1.5 MiB" while the total is unknown), at most once a
	// second and not in the first second, so short copies print nothing.
	Bytes Style = iota
	// Bar redraws "label [=====     ] done/total pct%" in place, at most
	// ten times a second and whenever done reaches total; Finish ends the
	// line.
	Bar
)

// Intervals between reports.
const (
	bytesEvery = time.Second
	barEvery   = 100 * time.Millisecond
	barWidth   = 30
)

// Reporter counts done out of total units and prints in its Style. It is
// not safe for concurrent use.
type Reporter struct {
	w     io.Writer
	label string
	style Style
	done  int64
	total int64 // 0 if unknown
	last  time.Time
	drawn bool
}

// NewBytes returns a Reporter of bytes copied, in the Bytes style.
func NewBytes(w io.Writer, label string) *Reporter {
	return &Reporter{w: w, label: label, style: Bytes, last: time.Now()}
}

// NewBar returns a Reporter of items done, in the Bar style.
func NewBar(w io.Writer, label string) *Reporter {
	return &Reporter{w: w, label: label, style: Bar}
}

// SetTotal sets the expected total, for the percentage.
func (r *Reporter) SetTotal(n int64) { r.total = n }

// Add counts n more units done.
func (r *Reporter) Add(n int64) { r.report(r.done+n, r.total) }

// Update sets how many units of total are done.
func (r *Reporter) Update(done, total int) { r.report(int64(done), int64(total)) }

// Write counts len(b) bytes, for copies through an io.MultiWriter.
func (r *Reporter) Write(b []byte) (int, error) { r.Add(int64(len(b))); return len(b), nil }

func (r *Reporter) report(done, total int64) {
	r.done, r.total = done, total
	switch r.style {
	case Bar:
		if time.Since(r.last) < barEvery && done < total {
			return
		}
	default:
		if time.Since(r.last) < bytesEvery {
			return
		}
	}
	r.last = time.Now()
	r.draw()
}

func (r *Reporter) draw() {
	r.drawn = true
	if r.style == Bar {
		pct, fill := int64(100), int64(barWidth)
		if r.total > 0 {
			pct, fill = r.done*100/r.total, r.done*barWidth/r.total
		}
		fmt.Fprintf(r.w, "\r%s [%s%s] %d/%d %3d%%", r.label, strings.Repeat("=", int(fill)), strings.Repeat(" ", barWidth-int(fill)), r.done, r.total, pct)
		return
	}
	if r.total > 0 {
		fmt.Fprintf(r.w, "%s: %s of ~%s (%d%%)\n", r.label, MiB(r.done), MiB(r.total), min(100, r.done*100/r.total))
	} else {
		fmt.Fprintf(r.w, "%s: %s\n", r.label, MiB(r.done))
	}
}

// Finish ends a Bar: it draws it if it never was, and ends its line. It
// prints nothing in the Bytes style, whose lines are complete.
func (r *Reporter) Finish() {
	if r.style != Bar {
		return
	}
	if !r.drawn {
		r.draw()
	}
	fmt.Fprintln(r.w)
}

// MiB formats a byte count as the reports do: "1.5 MiB".
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
