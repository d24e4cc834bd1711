// Package secretsplit splits a secret into parts any threshold of which
// rebuild it, and joins them: the Split Key Methods of KMIP (2.0 §2.2.5,
// §6.1.10, §6.1.26), and the fields a Split Key object carries.
//
// The methods, each over the bytes of the material S:
//
//   - XOR: parts 1..n-1 are random, part n is S XORed with them; the
//     threshold must equal the number of parts.
//   - Polynomial Sharing GF(2^8): Shamir's scheme byte by byte over GF(2^8)
//     with the reduction polynomial x^8+x^4+x^3+x^2+1 (0x11D); part i is
//     f(i) for a random polynomial f of degree threshold-1 with f(0) = S.
//     The polynomial is the one the OASIS vectors fix (TC-SJ-2/3: their
//     parts join to the registered key under 0x11D, not under AES's
//     0x11B). Field arithmetic on secret bytes is branch- and table-free.
//   - Polynomial Sharing Prime Field: Shamir's scheme over the integers
//     modulo the Prime Field Size p, S read as a big-endian integer, which
//     must be below p; each part is f(i) mod p in as many bytes as p. A
//     request without a Prime Field Size gets the smallest prime above
//     2^(8·len(S)), which fits every value of S. (math/big is not constant
//     time: prefer the GF(2^8) method where timing matters.)
//
// Polynomial Sharing GF(2^16) is not supported: no vector fixes its
// reduction polynomial, and a guess would not interoperate.
package secretsplit

import (
	"crypto/rand"
	"math/big"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// MaxParts bounds Split Key Parts: the Key Part Identifiers are the
// non-zero elements of GF(2^8).
const MaxParts = 255

// Fields are the fields of a Split Key besides its Key Block.
type Fields struct {
	Parts, ID, Threshold int32
	Method               kmip.SplitKeyMethod
	Prime                *big.Int // Prime Field Size; nil when absent
}

// Encode writes the fields in the order of KMIP 2.0 §2.2.5.
func (f *Fields) Encode() []byte {
	var b ttlv.Builder
	b.AddInt32(ttlv.TagSplitKeyParts, f.Parts)
	b.AddInt32(ttlv.TagKeyPartIdentifier, f.ID)
	b.AddInt32(ttlv.TagSplitKeyThreshold, f.Threshold)
	b.AddEnum(ttlv.TagSplitKeyMethod, uint32(f.Method))
	if f.Prime != nil {
		b.AddBigIntValue(ttlv.TagPrimeFieldSize, f.Prime)
	}
	raw, _ := b.Bytes()
	return raw
}

// ParseFields reads the fields kept in a Split Key object's Extra.
func ParseFields(extra []byte) (*Fields, bool) {
	f := &Fields{}
	v := ttlv.Value(extra)
	var seen int
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return nil, false
		}
		switch {
		case it.Tag == ttlv.TagSplitKeyParts && it.Type == ttlv.TypeInteger:
			f.Parts, seen = it.Int32(), seen|1
		case it.Tag == ttlv.TagKeyPartIdentifier && it.Type == ttlv.TypeInteger:
			f.ID, seen = it.Int32(), seen|2
		case it.Tag == ttlv.TagSplitKeyThreshold && it.Type == ttlv.TypeInteger:
			f.Threshold, seen = it.Int32(), seen|4
		case it.Tag == ttlv.TagSplitKeyMethod && it.Type == ttlv.TypeEnumeration:
			f.Method, seen = kmip.SplitKeyMethod(it.Uint32()), seen|8
		case it.Tag == ttlv.TagPrimeFieldSize && it.Type == ttlv.TypeBigInteger:
			f.Prime = it.BigInt()
		}
	}
	return f, seen == 15
}

// Check validates a split's parameters.
func (f *Fields) Check() error {
	switch {
	case f.Parts < 1 || f.Parts > MaxParts:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Split Key Parts must be between 1 and %d", MaxParts)
	case f.Threshold < 1 || f.Threshold > f.Parts:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Split Key Threshold must be between 1 and Split Key Parts")
	}
	switch f.Method {
	case kmip.SplitKeyMethodXOR:
		if f.Threshold != f.Parts {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "XOR splitting needs every part: Split Key Threshold must equal Split Key Parts")
		}
	case kmip.SplitKeyMethodPolynomialSharingGF2_8:
	case kmip.SplitKeyMethodPolynomialSharingPrimeField:
		if f.Prime != nil && (f.Prime.Cmp(big.NewInt(int64(f.Parts))) <= 0 || !f.Prime.ProbablyPrime(32)) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "the Prime Field Size must be a prime larger than Split Key Parts")
		}
	default:
		return kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Split Key Method %s is not supported", f.Method)
	}
	return nil
}

func errJoin(format string, a ...any) error {
	return kmip.Errorf(kmip.ResultReasonCryptographicFailure, format, a...)
}

// Split makes f.Parts shares of secret; for the prime field method
// it also returns the prime used.
func Split(secret []byte, f *Fields) ([][]byte, *big.Int, error) {
	if len(secret) == 0 {
		return nil, nil, kmip.Errorf(kmip.ResultReasonInvalidField, "nothing to split")
	}
	n, k := int(f.Parts), int(f.Threshold)
	switch f.Method {
	case kmip.SplitKeyMethodXOR:
		shares := make([][]byte, n)
		last := append([]byte(nil), secret...)
		for i := range n - 1 {
			shares[i] = make([]byte, len(secret))
			if _, err := rand.Read(shares[i]); err != nil {
				return nil, nil, err
			}
			for j := range last {
				last[j] ^= shares[i][j]
			}
		}
		shares[n-1] = last
		return shares, nil, nil
	case kmip.SplitKeyMethodPolynomialSharingGF2_8:
		shares := make([][]byte, n)
		for i := range shares {
			shares[i] = make([]byte, len(secret))
		}
		coef := make([]byte, k) // coef[0] is the secret byte
		defer clear(coef)
		for b, sb := range secret {
			coef[0] = sb
			if _, err := rand.Read(coef[1:]); err != nil {
				return nil, nil, err
			}
			for i := range n {
				x := byte(i + 1)
				var y byte // Horner's rule, highest coefficient first
				for j := k - 1; j >= 0; j-- {
					y = gfMul(y, x) ^ coef[j]
				}
				shares[i][b] = y
			}
		}
		return shares, nil, nil
	case kmip.SplitKeyMethodPolynomialSharingPrimeField:
		p := f.Prime
		if p == nil {
			p = primeAbove(8 * len(secret))
		}
		sv := new(big.Int).SetBytes(secret)
		defer sv.SetInt64(0)
		if sv.Cmp(p) >= 0 {
			return nil, nil, kmip.Errorf(kmip.ResultReasonInvalidField, "the key does not fit in the Prime Field Size")
		}
		coef := make([]*big.Int, k)
		coef[0] = sv
		for j := 1; j < k; j++ {
			c, err := rand.Int(rand.Reader, p)
			if err != nil {
				return nil, nil, err
			}
			coef[j] = c
		}
		size := (p.BitLen() + 7) / 8
		shares := make([][]byte, n)
		for i := range n {
			x := big.NewInt(int64(i + 1))
			y := new(big.Int)
			for j := k - 1; j >= 0; j-- {
				y.Mul(y, x).Add(y, coef[j]).Mod(y, p)
			}
			shares[i] = y.FillBytes(make([]byte, size))
			y.SetInt64(0)
		}
		for _, c := range coef[1:] {
			c.SetInt64(0)
		}
		return shares, p, nil
	}
	return nil, nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Split Key Method %s is not supported", f.Method)
}

// Join rebuilds the secret from shares at the points xs (at least
// f.Threshold of them, distinct). want is the secret's length in bytes if
// known (0 if not): prime field shares are longer than the secret.
func Join(f *Fields, xs []int32, shares [][]byte, want int) ([]byte, error) {
	size := len(shares[0])
	for _, sh := range shares {
		if len(sh) != size || size == 0 {
			return nil, errJoin("the parts differ in length")
		}
	}
	for _, x := range xs {
		if x < 1 || x > f.Parts {
			return nil, errJoin("Key Part Identifier %d is out of range", x)
		}
	}
	switch f.Method {
	case kmip.SplitKeyMethodXOR:
		out := make([]byte, size)
		for _, sh := range shares {
			for j := range out {
				out[j] ^= sh[j]
			}
		}
		return out, nil
	case kmip.SplitKeyMethodPolynomialSharingGF2_8:
		k := int(f.Threshold)
		xs, shares = xs[:k], shares[:k]
		// Lagrange basis at 0: L_i = Π_{j≠i} x_j / (x_j − x_i); the points
		// are public, only the shares are secret.
		lag := make([]byte, k)
		for i := range k {
			num, den := byte(1), byte(1)
			for j := range k {
				if j != i {
					num = gfMul(num, byte(xs[j]))
					den = gfMul(den, byte(xs[j])^byte(xs[i]))
				}
			}
			lag[i] = gfMul(num, gfInv(den))
		}
		out := make([]byte, size)
		for i, sh := range shares {
			for b := range out {
				out[b] ^= gfMul(sh[b], lag[i])
			}
		}
		return out, nil
	case kmip.SplitKeyMethodPolynomialSharingPrimeField:
		p := f.Prime
		if p == nil {
			return nil, errJoin("the parts lack their Prime Field Size")
		}
		k := int(f.Threshold)
		sum := new(big.Int)
		defer sum.SetInt64(0)
		for i := range k {
			num, den := big.NewInt(1), big.NewInt(1)
			for j := range k {
				if j != i {
					num.Mul(num, big.NewInt(int64(xs[j]))).Mod(num, p)
					d := big.NewInt(int64(xs[j]) - int64(xs[i]))
					den.Mul(den, d).Mod(den, p)
				}
			}
			inv := new(big.Int).ModInverse(den, p)
			if inv == nil {
				return nil, errJoin("the Prime Field Size is not prime")
			}
			term := new(big.Int).SetBytes(shares[i])
			term.Mul(term, num).Mod(term, p).Mul(term, inv).Mod(term, p)
			sum.Add(sum, term).Mod(sum, p)
			term.SetInt64(0)
		}
		// The secret is as long as the parts' Cryptographic Length says;
		// else, under the prime kmipd picks (the first above 2^(8·len)),
		// one byte shorter than a share; else as long as a share.
		n := size
		switch {
		case want > 0 && want <= size:
			n = want
		case size > 1 && f.Prime.Cmp(primeAbove(8*(size-1))) == 0:
			n = size - 1
		}
		if sum.BitLen() > 8*n {
			return nil, errJoin("the parts do not join to a key")
		}
		return sum.FillBytes(make([]byte, n)), nil
	}
	return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Split Key Method %s is not supported", f.Method)
}

// primeAbove returns the smallest prime larger than 2^bits.
func primeAbove(bits int) *big.Int {
	p := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	p.Add(p, big.NewInt(1))
	for !p.ProbablyPrime(32) {
		p.Add(p, big.NewInt(2))
	}
	return p
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x^2+1 without branches or
// tables.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		hi := -(a >> 7)
		a = a<<1 ^ 0x1D&hi
		b >>= 1
	}
	return p
}

// gfInv inverts a non-zero element of GF(2^8): a^254.
func gfInv(a byte) byte {
	r, x := byte(1), a
	for e := 254; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = gfMul(r, x)
		}
		x = gfMul(x, x)
	}
	return r
}
