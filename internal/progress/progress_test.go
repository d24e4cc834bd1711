package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	var b bytes.Buffer
	p := NewBytes(&b, "backup")
	p.SetTotal(100 << 20)
	p.Add(10 << 20) // within the first second: quiet
	if b.Len() != 0 {
		t.Fatalf("report within the first second: %q", b.String())
	}
	p.last = time.Now().Add(-2 * time.Second)
	p.Add(40 << 20)
	if got := b.String(); got != "backup: 50.0 MiB of ~100.0 MiB (50%)\n" {
		t.Fatalf("progress %q", got)
	}
	p.Add(1 << 20) // within a second of the last report
	p.Finish()
	if got := b.String(); got != "backup: 50.0 MiB of ~100.0 MiB (50%)\n" {
		t.Fatalf("progress after a quiet Add and Finish %q", got)
	}
}

func TestBytesUnknownTotalAndOverrun(t *testing.T) {
	var b bytes.Buffer
	p := NewBytes(&b, "restore")
	p.last = time.Time{}
	if _, err := io.Copy(p, strings.NewReader(strings.Repeat("x", 3<<19))); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "restore: 1.5 MiB\n" {
		t.Fatalf("progress without a total %q", got)
	}
	b.Reset()
	p.SetTotal(1 << 20) // the estimate was short: capped at 100%
	p.last = time.Time{}
	p.Add(0)
	if got := b.String(); got != "restore: 1.5 MiB of ~1.0 MiB (100%)\n" {
		t.Fatalf("progress past the total %q", got)
	}
}

func TestBar(t *testing.T) {
	var b bytes.Buffer
	p := NewBar(&b, "re-wrapping")
	p.Update(0, 10) // the first report draws at once
	p.Update(3, 10) // too soon: skipped
	p.Update(10, 10)
	p.Finish()
	want := "\rre-wrapping [                              ] 0/10   0%" +
		"\rre-wrapping [==============================] 10/10 100%\n"
	if got := b.String(); got != want {
		t.Fatalf("bar\n got %q\nwant %q", got, want)
	}

	b.Reset()
	p = NewBar(&b, "migrating")
	p.Update(0, 4)
	p.last = time.Time{}
	p.Update(1, 4)
	p.Finish()
	want = "\rmigrating [                              ] 0/4   0%" +
		"\rmigrating [=======                       ] 1/4  25%\n"
	if got := b.String(); got != want {
		t.Fatalf("bar\n got %q\nwant %q", got, want)
	}
}

func TestBarNothingToDo(t *testing.T) {
	var b bytes.Buffer
	p := NewBar(&b, "re-wrapping")
	p.Finish() // never updated: drawn once, complete
	if got, want := b.String(), "\rre-wrapping [==============================] 0/0 100%\n"; got != want {
		t.Fatalf("bar\n got %q\nwant %q", got, want)
	}
}
