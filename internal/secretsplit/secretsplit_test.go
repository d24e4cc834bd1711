package secretsplit

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/kmipd/kmipd/kmip"
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
	for _, f := range []Fields{
		{Parts: 5, Threshold: 3, Method: 4}, // GF(2^8)
		{Parts: 5, Threshold: 3, Method: 3}, // prime field
		{Parts: 3, Threshold: 3, Method: 1}, // XOR
	} {
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		shares, prime, err := Split(secret, &f)
		if err != nil {
			t.Fatal(err)
		}
		f.Prime = prime
		for mask := 1; mask < 1<<f.Parts; mask++ {
			var xs []int32
			var sub [][]byte
			for i := range int(f.Parts) {
				if mask>>i&1 == 1 {
					xs = append(xs, int32(i+1))
					sub = append(sub, shares[i])
				}
			}
			if len(xs) < int(f.Threshold) {
				continue
			}
			got, err := Join(&f, xs, sub, 0)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("method %s, parts %v: %x, %v", f.Method, xs, got, err)
			}
		}
	}
}

// Powers of the generator {02} of GF(2^8) modulo 0x11D, the field of the
// Reed–Solomon code of QR codes (ISO/IEC 18004) and of RAID-6: the start of
// its published antilog table, and α^254 = α^-1 = {8E}.
func TestGF256_Antilog(t *testing.T) {
	want := []byte{
		0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1D, 0x3A, 0x74, 0xE8, 0xCD,
		0x87, 0x13, 0x26, 0x4C, 0x98, 0x2D, 0x5A, 0xB4, 0x75, 0xEA, 0xC9, 0x8F, 0x03,
	}
	a := byte(1)
	for i, w := range want {
		if a != w {
			t.Fatalf("α^%d = %#02x, want %#02x", i, a, w)
		}
		a = gfMul(a, 2)
	}
	if inv := gfInv(2); inv != 0x8E {
		t.Fatalf("{02}^-1 = %#02x, want 0x8e", inv)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The parts of the OASIS KMIP 2.0 test cases TC-SJ-2-20/TC-SJ-3-20
// (Polynomial Sharing GF(2^8), 4 parts, threshold 2) and TC-SJ-4-20 (XOR,
// 4 parts) join to the key they split, 0102…0F10; for the polynomial
// method every pair does.
func TestJoin_OASIS(t *testing.T) {
	key := unhex(t, "0102030405060708090A0B0C0D0E0F10")
	gf := [][]byte{
		unhex(t, "66C46A7754F94DE420C7B1A7FFF5EC56"),
		unhex(t, "CF93D1E2A7E593CD5B8D6247F4E5D49C"),
		unhex(t, "A855B891F61AD9217240D8EC061E37DA"),
		unhex(t, "803DBAD55CDD329FAD19D99AE2C5A415"),
	}
	f := Fields{Parts: 4, Threshold: 2, Method: kmip.SplitKeyMethodPolynomialSharingGF2_8}
	for i := range 4 {
		for j := range 4 {
			if i == j {
				continue
			}
			got, err := Join(&f, []int32{int32(i + 1), int32(j + 1)}, [][]byte{gf[i], gf[j]}, 0)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("parts %d, %d: %x, %v", i+1, j+1, got, err)
			}
		}
	}
	xor := [][]byte{
		unhex(t, "d4b92c299199298e30dee13b967e6dda"),
		unhex(t, "35ea4f615686230c7b11538693674e89"),
		unhex(t, "3478ddd2e1f89f2005011d26d9fff37c"),
		unhex(t, "d429bd9e23e192aa47c4a497d1e8df3f"),
	}
	fx := Fields{Parts: 4, Threshold: 4, Method: kmip.SplitKeyMethodXOR}
	got, err := Join(&fx, []int32{1, 2, 3, 4}, xor, 0)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("XOR: %x, %v", got, err)
	}
	// A part of the wrong length or an identifier out of range is refused.
	if _, err := Join(&f, []int32{1, 2}, [][]byte{gf[0], gf[1][:15]}, 0); err == nil {
		t.Fatal("joined parts of different lengths")
	}
	if _, err := Join(&f, []int32{1, 5}, [][]byte{gf[0], gf[1]}, 0); err == nil {
		t.Fatal("joined a part numbered beyond Split Key Parts")
	}
}

// Fewer parts than the threshold tell nothing about the secret: with
// threshold 2, one part of a GF(2^8) split, and with XOR, any part but
// the last, are uniform whatever the secret (a chi-square bound over 256
// values; a wrong scheme, say one leaving a coefficient at zero, puts
// every sample in one bin).
func TestSplit_SubThresholdUniform(t *testing.T) {
	const perBin = 64
	for _, f := range []Fields{
		{Parts: 3, Threshold: 2, Method: kmip.SplitKeyMethodPolynomialSharingGF2_8},
		{Parts: 3, Threshold: 3, Method: kmip.SplitKeyMethodXOR},
	} {
		for _, secret := range []byte{0x00, 0xA5} {
			var bins [256]int
			for range 256 * perBin {
				shares, _, err := Split([]byte{secret}, &f)
				if err != nil {
					t.Fatal(err)
				}
				bins[shares[0][0]]++
			}
			chi := 0.0
			for _, n := range bins {
				d := float64(n - perBin)
				chi += d * d / perBin
			}
			// 255 degrees of freedom: mean 255, standard deviation 22.6.
			if chi > 400 {
				t.Fatalf("method %s, secret %#02x: part 1 is not uniform (χ² = %.0f)", f.Method, secret, chi)
			}
		}
	}
}

// The fields of a Split Key survive their encoding; Check refuses what
// cannot be split.
func TestFields(t *testing.T) {
	f := Fields{Parts: 5, ID: 2, Threshold: 3, Method: kmip.SplitKeyMethodPolynomialSharingPrimeField, Prime: big.NewInt(257)}
	g, ok := ParseFields(f.Encode())
	if !ok || g.Parts != 5 || g.ID != 2 || g.Threshold != 3 || g.Method != f.Method || g.Prime.Cmp(f.Prime) != 0 {
		t.Fatalf("%+v, %v", g, ok)
	}
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Fields{
		{Parts: 0, Threshold: 1, Method: kmip.SplitKeyMethodXOR},
		{Parts: 256, Threshold: 1, Method: kmip.SplitKeyMethodPolynomialSharingGF2_8},
		{Parts: 3, Threshold: 4, Method: kmip.SplitKeyMethodPolynomialSharingGF2_8},
		{Parts: 3, Threshold: 2, Method: kmip.SplitKeyMethodXOR},
		{Parts: 3, Threshold: 2, Method: kmip.SplitKeyMethodPolynomialSharingPrimeField, Prime: big.NewInt(256)},
		{Parts: 3, Threshold: 2, Method: kmip.SplitKeyMethodPolynomialSharingGF2_16},
	} {
		if err := bad.Check(); err == nil {
			t.Fatalf("%+v passed", bad)
		}
	}
	// The prime picked for a 16-byte secret is the first above 2^128.
	if p := primeAbove(128); p.BitLen() != 129 || !p.ProbablyPrime(32) {
		t.Fatalf("prime %v", p)
	}
}
