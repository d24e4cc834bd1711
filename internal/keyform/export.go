package keyform

import (
	"math/big"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// MaterialIn encodes k as the Key Material item of format f: a Byte
// String for the DER formats, a Structure for the Transparent ones. It also
// returns what the Digest of that format is computed over: the bytes of a
// Byte String, the whole encoded item of a Structure. A format k cannot be
// given in fails with Key Format Type Not Supported. The results may hold
// private key material: clear them after use.
func (k *Key) MaterialIn(f kmip.KeyFormatType) (item, digested []byte, err error) {
	b := ttlv.NewBuilder(make([]byte, 0, len(k.DER)+64))
	bytesItem := func(data []byte) ([]byte, []byte, error) {
		b.AddBytes(ttlv.TagKeyMaterial, data)
		raw, err := b.Bytes()
		if err != nil {
			return nil, nil, err
		}
		return raw, raw[8 : 8+len(data)], nil
	}
	structItem := func(fill func()) ([]byte, []byte, error) {
		b.Begin(ttlv.TagKeyMaterial)
		fill()
		b.End()
		raw, err := b.Bytes()
		return raw, raw, err
	}
	unsupported := func() ([]byte, []byte, error) {
		return nil, nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "a %s %s cannot be returned as %s", k.Alg, k.kind(), f)
	}
	switch {
	case k.Private && f == kmip.KeyFormatTypePKCS_8, !k.Private && f == kmip.KeyFormatTypeX_509:
		return bytesItem(k.DER)
	case k.Encrypted:
		return nil, nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "an encrypted PKCS#8 key cannot be returned as %s", f)
	case f == kmip.KeyFormatTypePKCS_1 && k.Alg == kmip.CryptographicAlgorithmRSA:
		return bytesItem(k.Inner)
	case f == kmip.KeyFormatTypeECPrivateKey && k.Private && k.Alg == kmip.CryptographicAlgorithmEC:
		var e ECPrivateKey
		if !UnmarshalAll(k.Inner, &e) {
			return nil, nil, BadKey("stored EC key is malformed")
		}
		if e.Curve != nil {
			return bytesItem(k.Inner)
		}
		// PKCS#8 may leave the curve to the algorithm identifier; an
		// ECPrivateKey on its own names it.
		e.Curve = k.Curve.OID
		inner := MustMarshal(e)
		defer clear(inner)
		return bytesItem(inner)
	case f == kmip.KeyFormatTypeTransparentRSAPrivateKey && k.Private && k.Alg == kmip.CryptographicAlgorithmRSA:
		var r pkcs1Private
		if !UnmarshalAll(k.Inner, &r) {
			return nil, nil, BadKey("stored RSA key is malformed")
		}
		return structItem(func() {
			b.AddBigIntValue(ttlv.TagModulus, r.N)
			b.AddBigIntValue(ttlv.TagPrivateExponent, r.D)
			b.AddBigIntValue(ttlv.TagPublicExponent, r.E)
			b.AddBigIntValue(ttlv.TagP, r.P)
			b.AddBigIntValue(ttlv.TagQ, r.Q)
			b.AddBigIntValue(ttlv.TagPrimeExponentP, r.Dp)
			b.AddBigIntValue(ttlv.TagPrimeExponentQ, r.Dq)
			b.AddBigIntValue(ttlv.TagCRTCoefficient, r.Qi)
		})
	case f == kmip.KeyFormatTypeTransparentRSAPublicKey && !k.Private && k.Alg == kmip.CryptographicAlgorithmRSA:
		var r pkcs1Public
		if !UnmarshalAll(k.Inner, &r) {
			return nil, nil, BadKey("stored RSA key is malformed")
		}
		return structItem(func() {
			b.AddBigIntValue(ttlv.TagModulus, r.N)
			b.AddBigIntValue(ttlv.TagPublicExponent, r.E)
		})
	case (f == kmip.KeyFormatTypeTransparentDSAPrivateKey && k.Private ||
		f == kmip.KeyFormatTypeTransparentDSAPublicKey && !k.Private) && k.Alg == kmip.CryptographicAlgorithmDSA:
		var p dssParams
		var x *big.Int
		if !UnmarshalAll(k.Params, &p) || !UnmarshalAll(k.Inner, &x) {
			return nil, nil, BadKey("stored DSA key is malformed")
		}
		last := ttlv.TagY
		if k.Private {
			last = ttlv.TagX
		}
		return structItem(func() {
			b.AddBigIntValue(ttlv.TagP, p.P)
			b.AddBigIntValue(ttlv.TagQ, p.Q)
			b.AddBigIntValue(ttlv.TagG, p.G)
			b.AddBigIntValue(last, x)
		})
	case transparentEC(f, k.Private) && k.Alg == kmip.CryptographicAlgorithmEC:
		if !k.Private {
			return structItem(func() {
				b.AddEnum(ttlv.TagRecommendedCurve, uint32(k.Curve.Name))
				b.AddBytes(ttlv.TagQString, k.Inner)
			})
		}
		var e ECPrivateKey
		if !UnmarshalAll(k.Inner, &e) {
			return nil, nil, BadKey("stored EC key is malformed")
		}
		return structItem(func() {
			b.AddEnum(ttlv.TagRecommendedCurve, uint32(k.Curve.Name))
			b.AddBigIntValue(ttlv.TagD, new(big.Int).SetBytes(e.PrivateKey))
		})
	}
	return unsupported()
}

func (k *Key) kind() string {
	if k.Private {
		return "private key"
	}
	return "public key"
}

// Presentation returns what the Digest of k in format f is computed over
// (see MaterialIn), as a new slice.
func (k *Key) Presentation(f kmip.KeyFormatType) ([]byte, error) {
	item, d, err := k.MaterialIn(f)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), d...)
	clear(item)
	return out, nil
}
