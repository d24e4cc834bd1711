package keyform

import (
	"encoding/asn1"
	"math/big"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// for formats that do not carry everything (an ECPrivateKey without its
// curve).
type Hints struct {
	Curve kmip.RecommendedCurve // Cryptographic Domain Parameters
	Bits  int32                 // Cryptographic Length
}

// Import converts key material in a registered format into the
// canonical encoding. km is the Key Material item: a Byte String for the
// DER formats, a Structure for the Transparent ones.
func Import(private bool, format kmip.KeyFormatType, km ttlv.Item, h Hints) (*Key, error) {
	var der []byte
	bytesFormat := func() ([]byte, error) {
		if km.Type != ttlv.TypeByteString {
			return nil, BadKey("%s material must be a Byte String", format)
		}
		return km.Data, nil
	}
	var err error
	switch {
	case private && format == kmip.KeyFormatTypePKCS_8, !private && format == kmip.KeyFormatTypeX_509:
		if der, err = bytesFormat(); err != nil {
			return nil, err
		}
		der = append([]byte(nil), der...)
	case format == kmip.KeyFormatTypePKCS_1:
		inner, err := bytesFormat()
		if err != nil {
			return nil, err
		}
		if private {
			der = WrapPKCS8(oidRSA, asn1Null, inner)
		} else {
			der = WrapSPKI(oidRSA, asn1Null, inner)
		}
	case private && format == kmip.KeyFormatTypeECPrivateKey:
		inner, err := bytesFormat()
		if err != nil {
			return nil, err
		}
		var e ECPrivateKey
		if !UnmarshalAll(inner, &e) {
			return nil, BadKey("malformed EC private key")
		}
		oid := e.Curve
		if oid == nil {
			c, ok := HintCurve(h)
			if !ok {
				return nil, BadKey("the EC private key does not name its curve")
			}
			oid = c.OID
		}
		der = WrapPKCS8(OIDEC, OIDParams(oid), inner)
	case format == kmip.KeyFormatTypeTransparentRSAPrivateKey && private,
		format == kmip.KeyFormatTypeTransparentRSAPublicKey && !private:
		if der, err = importTransparentRSA(private, km); err != nil {
			return nil, err
		}
	case format == kmip.KeyFormatTypeTransparentDSAPrivateKey && private,
		format == kmip.KeyFormatTypeTransparentDSAPublicKey && !private:
		if der, err = importTransparentDSA(private, km); err != nil {
			return nil, err
		}
	case transparentEC(format, private):
		if der, err = importTransparentEC(private, km); err != nil {
			return nil, err
		}
	default:
		kind := "public"
		if private {
			kind = "private"
		}
		return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "%s keys cannot be registered as %s", kind, format)
	}
	return Parse(der, private)
}

// HintCurve is the curve hints name: the Recommended Curve, else the NIST
// curve of the Cryptographic Length.
func HintCurve(h Hints) (*Curve, bool) {
	if h.Curve != 0 {
		return CurveByEnum(h.Curve)
	}
	switch h.Bits {
	case 256:
		return CurveByEnum(kmip.RecommendedCurveP_256)
	case 384:
		return CurveByEnum(kmip.RecommendedCurveP_384)
	case 521:
		return CurveByEnum(kmip.RecommendedCurveP_521)
	}
	return nil, false
}

// transparentEC reports whether f is a Transparent EC format of the right
// kind: KMIP 2.x Transparent EC Private/Public Key, or the KMIP 1.x ECDSA,
// ECDH and ECMQV forms, which have the same fields.
func transparentEC(f kmip.KeyFormatType, private bool) bool {
	switch f {
	case kmip.KeyFormatTypeTransparentECPrivateKey, kmip.KeyFormatTypeTransparentECDSAPrivateKey,
		kmip.KeyFormatTypeTransparentECDHPrivateKey, kmip.KeyFormatTypeTransparentECMQVPrivateKey:
		return private
	case kmip.KeyFormatTypeTransparentECPublicKey, kmip.KeyFormatTypeTransparentECDSAPublicKey,
		kmip.KeyFormatTypeTransparentECDHPublicKey, kmip.KeyFormatTypeTransparentECMQVPublicKey:
		return !private
	}
	return false
}

// transparentFields reads the fields of a Transparent key structure: Big
// Integers, and the Recommended Curve and Q String of EC keys. Each field
// may appear once; unknown fields are refused.
type transparentFields struct {
	ints  map[ttlv.Tag]*big.Int
	curve kmip.RecommendedCurve
	q     []byte
}

func readTransparent(km ttlv.Item, allowed ...ttlv.Tag) (*transparentFields, error) {
	if km.Type != ttlv.TypeStructure {
		return nil, BadKey("transparent key material must be a Structure")
	}
	f := &transparentFields{ints: map[ttlv.Tag]*big.Int{}}
	seen := map[ttlv.Tag]bool{}
	v := km.Children()
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return nil, BadKey("malformed transparent key")
		}
		known := false
		for _, t := range allowed {
			known = known || t == it.Tag
		}
		if !known || seen[it.Tag] {
			return nil, BadKey("unexpected %s in transparent key", it.Tag)
		}
		seen[it.Tag] = true
		switch {
		case it.Tag == ttlv.TagRecommendedCurve && it.Type == ttlv.TypeEnumeration:
			f.curve = kmip.RecommendedCurve(it.Uint32())
		case it.Tag == ttlv.TagQString && it.Type == ttlv.TypeByteString:
			f.q = it.Data
		case it.Type == ttlv.TypeBigInteger:
			x := it.BigInt()
			if x.Sign() < 0 {
				return nil, BadKey("negative %s", it.Tag)
			}
			f.ints[it.Tag] = x
		default:
			return nil, BadKey("%s has type %s", it.Tag, it.Type)
		}
	}
	return f, nil
}

func importTransparentRSA(private bool, km ttlv.Item) ([]byte, error) {
	if !private {
		f, err := readTransparent(km, ttlv.TagModulus, ttlv.TagPublicExponent)
		if err != nil {
			return nil, err
		}
		n, e := f.ints[ttlv.TagModulus], f.ints[ttlv.TagPublicExponent]
		if n == nil || e == nil || n.Sign() == 0 || e.Sign() == 0 {
			return nil, BadKey("a Transparent RSA Public Key needs Modulus and Public Exponent")
		}
		return WrapSPKI(oidRSA, asn1Null, MustMarshal(pkcs1Public{N: n, E: e})), nil
	}
	f, err := readTransparent(km, ttlv.TagModulus, ttlv.TagPrivateExponent, ttlv.TagPublicExponent,
		ttlv.TagP, ttlv.TagQ, ttlv.TagPrimeExponentP, ttlv.TagPrimeExponentQ, ttlv.TagCRTCoefficient)
	if err != nil {
		return nil, err
	}
	r := pkcs1Private{
		N: f.ints[ttlv.TagModulus], E: f.ints[ttlv.TagPublicExponent], D: f.ints[ttlv.TagPrivateExponent],
		P: f.ints[ttlv.TagP], Q: f.ints[ttlv.TagQ],
		Dp: f.ints[ttlv.TagPrimeExponentP], Dq: f.ints[ttlv.TagPrimeExponentQ], Qi: f.ints[ttlv.TagCRTCoefficient],
	}
	if err := completeRSA(&r); err != nil {
		return nil, err
	}
	return WrapPKCS8(oidRSA, asn1Null, MustMarshal(r)), nil
}

// completeRSA fills in the fields of a PKCS#1 private key that a
// Transparent RSA Private Key may leave out (all but the Modulus are
// optional in KMIP): the public exponent from the private one and the
// primes, the primes from the exponents, the CRT values from the rest.
func completeRSA(r *pkcs1Private) error {
	one := big.NewInt(1)
	if r.N == nil || r.N.Sign() == 0 {
		return BadKey("a Transparent RSA Private Key needs its Modulus")
	}
	if r.P == nil && r.Q != nil && new(big.Int).Mod(r.N, r.Q).Sign() == 0 {
		r.P = new(big.Int).Div(r.N, r.Q)
	}
	if r.Q == nil && r.P != nil && new(big.Int).Mod(r.N, r.P).Sign() == 0 {
		r.Q = new(big.Int).Div(r.N, r.P)
	}
	var phi *big.Int
	if r.P != nil && r.Q != nil {
		if r.P.Cmp(one) <= 0 || r.Q.Cmp(one) <= 0 || new(big.Int).Mul(r.P, r.Q).Cmp(r.N) != 0 {
			return BadKey("P × Q is not the Modulus")
		}
		phi = new(big.Int).Mul(new(big.Int).Sub(r.P, one), new(big.Int).Sub(r.Q, one))
	}
	switch {
	case r.E == nil && r.D != nil && phi != nil:
		r.E = new(big.Int).ModInverse(r.D, phi)
	case r.D == nil && r.E != nil && phi != nil:
		r.D = new(big.Int).ModInverse(r.E, phi)
	}
	if r.E == nil || r.D == nil || r.E.Sign() == 0 || r.D.Sign() == 0 {
		return BadKey("a Transparent RSA Private Key needs its exponents, or one exponent and the primes")
	}
	if r.P == nil || r.Q == nil {
		p, q, ok := factorRSA(r.N, r.E, r.D)
		if !ok {
			return BadKey("cannot recover the primes of the RSA key")
		}
		r.P, r.Q = p, q
	}
	if r.Dp == nil {
		r.Dp = new(big.Int).Mod(r.D, new(big.Int).Sub(r.P, one))
	}
	if r.Dq == nil {
		r.Dq = new(big.Int).Mod(r.D, new(big.Int).Sub(r.Q, one))
	}
	if r.Qi == nil {
		r.Qi = new(big.Int).ModInverse(r.Q, r.P)
		if r.Qi == nil {
			return BadKey("the RSA primes are not coprime")
		}
	}
	return nil
}

// factorRSA recovers the primes of n from the exponents (NIST SP 800-56B
// Appendix C.2): k = de − 1 = 2^t·r; for small bases g, some g^(r·2^i) is a
// nontrivial square root of 1 mod n, and its gcd with n is a factor.
func factorRSA(n, e, d *big.Int) (p, q *big.Int, ok bool) {
	one := big.NewInt(1)
	k := new(big.Int).Mul(d, e)
	k.Sub(k, one)
	if k.Sign() <= 0 || k.Bit(0) != 0 {
		return nil, nil, false
	}
	t := 0
	r := new(big.Int).Set(k)
	for r.Bit(0) == 0 {
		r.Rsh(r, 1)
		t++
	}
	nm1 := new(big.Int).Sub(n, one)
	for g := int64(2); g < 200; g++ {
		y := new(big.Int).Exp(big.NewInt(g), r, n)
		if y.Cmp(one) == 0 || y.Cmp(nm1) == 0 {
			continue
		}
		for range t {
			x := new(big.Int).Exp(y, big.NewInt(2), n)
			if x.Cmp(one) == 0 {
				p = new(big.Int).GCD(nil, nil, new(big.Int).Sub(y, one), n)
				if p.Cmp(one) > 0 && p.Cmp(n) < 0 {
					return p, new(big.Int).Div(n, p), true
				}
				break
			}
			if x.Cmp(nm1) == 0 {
				break
			}
			y = x
		}
	}
	return nil, nil, false
}

func importTransparentDSA(private bool, km ttlv.Item) ([]byte, error) {
	last := ttlv.TagY
	if private {
		last = ttlv.TagX
	}
	f, err := readTransparent(km, ttlv.TagP, ttlv.TagQ, ttlv.TagG, last)
	if err != nil {
		return nil, err
	}
	p, q, g, x := f.ints[ttlv.TagP], f.ints[ttlv.TagQ], f.ints[ttlv.TagG], f.ints[last]
	if p == nil || q == nil || g == nil || x == nil || p.Sign() == 0 {
		return nil, BadKey("a Transparent DSA key needs P, Q, G and %s", last)
	}
	params := asn1.RawValue{FullBytes: MustMarshal(dssParams{P: p, Q: q, G: g})}
	if private {
		return WrapPKCS8(oidDSA, params, MustMarshal(x)), nil
	}
	return WrapSPKI(oidDSA, params, MustMarshal(x)), nil
}

func importTransparentEC(private bool, km ttlv.Item) ([]byte, error) {
	var f *transparentFields
	var err error
	if private {
		f, err = readTransparent(km, ttlv.TagRecommendedCurve, ttlv.TagD)
	} else {
		f, err = readTransparent(km, ttlv.TagRecommendedCurve, ttlv.TagQString)
	}
	if err != nil {
		return nil, err
	}
	c, ok := CurveByEnum(f.curve)
	if !ok {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unsupported Recommended Curve %s", f.curve)
	}
	if !private {
		if len(f.q) == 0 {
			return nil, BadKey("a Transparent EC Public Key needs its Q String")
		}
		return WrapSPKI(OIDEC, OIDParams(c.OID), f.q), nil
	}
	d := f.ints[ttlv.TagD]
	size := (int(c.Bits) + 7) / 8
	if d == nil || d.Sign() == 0 || d.BitLen() > 8*size {
		return nil, BadKey("a Transparent EC Private Key needs a D on its curve")
	}
	scalar := d.FillBytes(make([]byte, size))
	defer clear(scalar)
	e := ECPrivateKey{Version: 1, PrivateKey: scalar, Curve: c.OID}
	if c.ECDH != nil {
		pk, err := c.ECDH().NewPrivateKey(scalar)
		if err != nil {
			return nil, BadKey("D is not a valid %s private key", f.curve)
		}
		pub := pk.PublicKey().Bytes()
		e.PublicKey = asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}
	}
	inner := MustMarshal(e)
	defer clear(inner)
	return WrapPKCS8(OIDEC, OIDParams(c.OID), inner), nil
}
