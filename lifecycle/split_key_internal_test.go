package lifecycle

import (
	"bytes"
	"testing"
)

// GF(2^8) modulo 0x11D: every non-zero element has its inverse, and the
// multiplication agrees with a plain shift-and-reduce one.
func TestGF256(t *testing.T) {
	slow := func(a, b byte) byte {
		var p uint16
		for i := range 8 {
			if b>>i&1 == 1 {
				p ^= uint16(a) << i
			}
		}
		for i := 15; i >= 8; i-- {
			if p>>i&1 == 1 {
				p ^= 0x11D << (i - 8)
			}
		}
		return byte(p)
	}
	for a := range 256 {
		for b := range 256 {
			if got, want := gfMul(byte(a), byte(b)), slow(byte(a), byte(b)); got != want {
				t.Fatalf("%#x·%#x = %#x, want %#x", a, b, got, want)
			}
		}
		if a != 0 && gfMul(byte(a), gfInv(byte(a))) != 1 {
			t.Fatalf("%#x has no inverse %#x", a, gfInv(byte(a)))
		}
	}
}

// Every subset of at least threshold shares joins to the secret, for each
// method; the shares of a prime field split fit the prime.
func TestSplitJoinSubsets(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, f := range []splitFields{
		{parts: 5, threshold: 3, method: 4}, // GF(2^8)
		{parts: 5, threshold: 3, method: 3}, // prime field
		{parts: 3, threshold: 3, method: 1}, // XOR
	} {
		if err := f.check(); err != nil {
			t.Fatal(err)
		}
		shares, prime, err := splitSecret(secret, &f)
		if err != nil {
			t.Fatal(err)
		}
		f.prime = prime
		for mask := 1; mask < 1<<f.parts; mask++ {
			var xs []int32
			var sub [][]byte
			for i := range int(f.parts) {
				if mask>>i&1 == 1 {
					xs = append(xs, int32(i+1))
					sub = append(sub, shares[i])
				}
			}
			if len(xs) < int(f.threshold) {
				continue
			}
			got, err := joinShares(&f, xs, sub, 0)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("method %s, parts %v: %x, %v", f.method, xs, got, err)
			}
		}
	}
}
