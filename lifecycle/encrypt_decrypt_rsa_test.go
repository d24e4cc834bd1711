package lifecycle

import (
	"bytes"
	"testing"
)

// pkcs1v15Unpad accepts exactly the PKCS#1 v1.5 encryption encodings.
func TestPKCS1v15Unpad(t *testing.T) {
	good := append(append([]byte{0, 2}, bytes.Repeat([]byte{0xaa}, 8)...), 0, 'h', 'i')
	if valid, i := pkcs1v15Unpad(good); valid != 1 || string(good[i:]) != "hi" {
		t.Fatalf("good encoding: valid %d, message %q", valid, good[i:])
	}
	empty := append(append([]byte{0, 2}, bytes.Repeat([]byte{0xaa}, 8)...), 0)
	if valid, i := pkcs1v15Unpad(empty); valid != 1 || i != len(empty) {
		t.Fatalf("empty message: valid %d, index %d", valid, i)
	}
	for name, em := range map[string][]byte{
		"first byte":   append([]byte{1}, good[1:]...),
		"block type":   append([]byte{0, 1}, good[2:]...),
		"short PS":     append(append([]byte{0, 2}, bytes.Repeat([]byte{0xaa}, 7)...), 0, 'h', 'i'),
		"no separator": append([]byte{0, 2}, bytes.Repeat([]byte{0xaa}, 12)...),
	} {
		if valid, _ := pkcs1v15Unpad(em); valid != 0 {
			t.Errorf("%s: accepted %x", name, em)
		}
	}
}
