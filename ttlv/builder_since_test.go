package ttlv

import (
	"bytes"
	"testing"
)

func TestBuilderSince(t *testing.T) {
	b := NewBuilder(nil)
	b.Begin(TagResponsePayload)
	mark := b.Len()
	b.AddText(TagUniqueIdentifier, "k-1")
	b.AddInt32(TagCryptographicLength, 256)
	got := Value(b.Since(mark))
	want := NewBuilder(nil)
	want.AddText(TagUniqueIdentifier, "k-1")
	want.AddInt32(TagCryptographicLength, 256)
	wb, _ := want.Bytes()
	if !bytes.Equal(got, wb) {
		t.Fatalf("Since = %x, want %x", []byte(got), wb)
	}
	if it, ok := got.Find(TagUniqueIdentifier); !ok || string(it.Data) != "k-1" {
		t.Fatalf("Find in Since: %v %q", ok, it.Data)
	}
	// Appending to the result must not write into the Builder's buffer.
	if s := b.Since(mark); cap(s) != len(s) {
		t.Fatalf("Since has spare capacity %d: appending to it would overwrite the Builder's buffer", cap(s)-len(s))
	}
	if b.Since(b.Len()) == nil || len(b.Since(b.Len())) != 0 {
		t.Fatal("Since(Len()) should be empty, not nil")
	}
	if b.Since(-1) != nil || b.Since(b.Len()+1) != nil {
		t.Fatal("out-of-range mark should give nil")
	}
	b.End()
	if _, err := b.Bytes(); err != nil {
		t.Fatal(err)
	}
	// After an error Since gives nil.
	c := NewBuilder(nil)
	c.End()
	if c.Since(0) != nil {
		t.Fatal("Since after an error should be nil")
	}
}
