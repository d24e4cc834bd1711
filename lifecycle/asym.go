package lifecycle

import (
	"crypto/ecdh"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// Asymmetric keys at rest.
//
// kmipd seals one canonical encoding per asymmetric key, whatever format the
// client used:
//
//   - a Private Key as a PKCS#8 PrivateKeyInfo (RFC 5208), Object.KeyFormat
//     PKCS_8;
//   - a Public Key as an X.509 SubjectPublicKeyInfo (RFC 5280),
//     Object.KeyFormat X_509.
//
// Conversions are structural (encoding/asn1), not through crypto/x509, so a
// key on a curve Go does not implement (secp256k1, Brainpool) or a small
// legacy key is stored and returned as well, and the inner encoding the
// client sent is kept byte for byte: a PKCS#1 RSAPrivateKey or an RFC 5915
// ECPrivateKey is wrapped unchanged in the PKCS#8 structure and unwrapped
// unchanged on Get. The format the object was registered in (PKCS#1 for
// RSA keys kmipd generates) is kept in the Key Format Type attribute and is
// what Get returns by default.

// Algorithm identifiers (RFC 8017, RFC 5480, RFC 3279, RFC 8410).
var (
	oidRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidDSA     = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448   = asn1.ObjectIdentifier{1, 3, 101, 113}
)

// asn1Null is the NULL parameters of rsaEncryption.
var asn1Null = asn1.RawValue{Tag: asn1.TagNull, FullBytes: []byte{asn1.TagNull, 0}}

// curveInfo describes a named elliptic curve: its KMIP Recommended Curve,
// object identifier and size in bits (its Cryptographic Length).
type curveInfo struct {
	curve kmip.RecommendedCurve
	oid   asn1.ObjectIdentifier
	bits  int32
	ecdh  func() ecdh.Curve // nil when Go does not implement the curve
}

// curves are the named curves whose identifiers kmipd knows (SEC 2, ANSI
// X9.62, RFC 5639).
var curves = []curveInfo{
	{kmip.RecommendedCurveP_192, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}, 192, nil},
	{kmip.RecommendedCurveP_224, asn1.ObjectIdentifier{1, 3, 132, 0, 33}, 224, nil},
	{kmip.RecommendedCurveP_256, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, 256, ecdh.P256},
	{kmip.RecommendedCurveP_384, asn1.ObjectIdentifier{1, 3, 132, 0, 34}, 384, ecdh.P384},
	{kmip.RecommendedCurveP_521, asn1.ObjectIdentifier{1, 3, 132, 0, 35}, 521, ecdh.P521},
	{kmip.RecommendedCurveK_163, asn1.ObjectIdentifier{1, 3, 132, 0, 1}, 163, nil},
	{kmip.RecommendedCurveB_163, asn1.ObjectIdentifier{1, 3, 132, 0, 15}, 163, nil},
	{kmip.RecommendedCurveK_233, asn1.ObjectIdentifier{1, 3, 132, 0, 26}, 233, nil},
	{kmip.RecommendedCurveB_233, asn1.ObjectIdentifier{1, 3, 132, 0, 27}, 233, nil},
	{kmip.RecommendedCurveK_283, asn1.ObjectIdentifier{1, 3, 132, 0, 16}, 283, nil},
	{kmip.RecommendedCurveB_283, asn1.ObjectIdentifier{1, 3, 132, 0, 17}, 283, nil},
	{kmip.RecommendedCurveK_409, asn1.ObjectIdentifier{1, 3, 132, 0, 36}, 409, nil},
	{kmip.RecommendedCurveB_409, asn1.ObjectIdentifier{1, 3, 132, 0, 37}, 409, nil},
	{kmip.RecommendedCurveK_571, asn1.ObjectIdentifier{1, 3, 132, 0, 38}, 571, nil},
	{kmip.RecommendedCurveB_571, asn1.ObjectIdentifier{1, 3, 132, 0, 39}, 571, nil},
	{kmip.RecommendedCurveSECP112R1, asn1.ObjectIdentifier{1, 3, 132, 0, 6}, 112, nil},
	{kmip.RecommendedCurveSECP112R2, asn1.ObjectIdentifier{1, 3, 132, 0, 7}, 112, nil},
	{kmip.RecommendedCurveSECP128R1, asn1.ObjectIdentifier{1, 3, 132, 0, 28}, 128, nil},
	{kmip.RecommendedCurveSECP128R2, asn1.ObjectIdentifier{1, 3, 132, 0, 29}, 128, nil},
	{kmip.RecommendedCurveSECP160K1, asn1.ObjectIdentifier{1, 3, 132, 0, 9}, 160, nil},
	{kmip.RecommendedCurveSECP160R1, asn1.ObjectIdentifier{1, 3, 132, 0, 8}, 160, nil},
	{kmip.RecommendedCurveSECP160R2, asn1.ObjectIdentifier{1, 3, 132, 0, 30}, 160, nil},
	{kmip.RecommendedCurveSECP192K1, asn1.ObjectIdentifier{1, 3, 132, 0, 31}, 192, nil},
	{kmip.RecommendedCurveSECP224K1, asn1.ObjectIdentifier{1, 3, 132, 0, 32}, 224, nil},
	{kmip.RecommendedCurveSECP256K1, asn1.ObjectIdentifier{1, 3, 132, 0, 10}, 256, nil},
	{kmip.RecommendedCurveSECT113R1, asn1.ObjectIdentifier{1, 3, 132, 0, 4}, 113, nil},
	{kmip.RecommendedCurveSECT113R2, asn1.ObjectIdentifier{1, 3, 132, 0, 5}, 113, nil},
	{kmip.RecommendedCurveSECT131R1, asn1.ObjectIdentifier{1, 3, 132, 0, 22}, 131, nil},
	{kmip.RecommendedCurveSECT131R2, asn1.ObjectIdentifier{1, 3, 132, 0, 23}, 131, nil},
	{kmip.RecommendedCurveSECT163R1, asn1.ObjectIdentifier{1, 3, 132, 0, 2}, 163, nil},
	{kmip.RecommendedCurveSECT193R1, asn1.ObjectIdentifier{1, 3, 132, 0, 24}, 193, nil},
	{kmip.RecommendedCurveSECT193R2, asn1.ObjectIdentifier{1, 3, 132, 0, 25}, 193, nil},
	{kmip.RecommendedCurveSECT239K1, asn1.ObjectIdentifier{1, 3, 132, 0, 3}, 239, nil},
	{kmip.RecommendedCurveANSIX9P192V2, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 2}, 192, nil},
	{kmip.RecommendedCurveANSIX9P192V3, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 3}, 192, nil},
	{kmip.RecommendedCurveANSIX9P239V1, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 4}, 239, nil},
	{kmip.RecommendedCurveANSIX9P239V2, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 5}, 239, nil},
	{kmip.RecommendedCurveANSIX9P239V3, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 6}, 239, nil},
	{kmip.RecommendedCurveBRAINPOOLP160R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 1}, 160, nil},
	{kmip.RecommendedCurveBRAINPOOLP160T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 2}, 160, nil},
	{kmip.RecommendedCurveBRAINPOOLP192R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 3}, 192, nil},
	{kmip.RecommendedCurveBRAINPOOLP192T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 4}, 192, nil},
	{kmip.RecommendedCurveBRAINPOOLP224R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 5}, 224, nil},
	{kmip.RecommendedCurveBRAINPOOLP224T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 6}, 224, nil},
	{kmip.RecommendedCurveBRAINPOOLP256R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}, 256, nil},
	{kmip.RecommendedCurveBRAINPOOLP256T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 8}, 256, nil},
	{kmip.RecommendedCurveBRAINPOOLP320R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 9}, 320, nil},
	{kmip.RecommendedCurveBRAINPOOLP320T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 10}, 320, nil},
	{kmip.RecommendedCurveBRAINPOOLP384R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}, 384, nil},
	{kmip.RecommendedCurveBRAINPOOLP384T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 12}, 384, nil},
	{kmip.RecommendedCurveBRAINPOOLP512R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}, 512, nil},
	{kmip.RecommendedCurveBRAINPOOLP512T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 14}, 512, nil},
}

func curveByOID(oid asn1.ObjectIdentifier) (*curveInfo, bool) {
	for i := range curves {
		if curves[i].oid.Equal(oid) {
			return &curves[i], true
		}
	}
	return nil, false
}

func curveByEnum(c kmip.RecommendedCurve) (*curveInfo, bool) {
	for i := range curves {
		if curves[i].curve == c {
			return &curves[i], true
		}
	}
	return nil, false
}

// ASN.1 structures, parsed without crypto/x509 so that any curve and key
// size is accepted. Trailing optional fields (PKCS#8 attributes, RSA other
// prime infos) are ignored by encoding/asn1 when parsing and, as the inner
// encodings are kept as received, never lost.
type pkcs8Info struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// encryptedPKCS8 is an EncryptedPrivateKeyInfo (RFC 5208 §6), which KMIP
// also calls PKCS#8: kmipd cannot decrypt it and keeps it as it is.
type encryptedPKCS8 struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type spkiInfo struct {
	Algo      pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

type pkcs1Private struct {
	Version                   int
	N, E, D, P, Q, Dp, Dq, Qi *big.Int
}

type pkcs1Public struct {
	N, E *big.Int
}

type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

type dssParams struct {
	P, Q, G *big.Int
}

// asymKey is a parsed canonical key.
type asymKey struct {
	private bool
	alg     kmip.CryptographicAlgorithm // RSA, DSA, EC, Ed25519 or Ed448
	der     []byte                      // PKCS#8 or SubjectPublicKeyInfo
	inner   []byte                      // PKCS#8 privateKey octets; SPKI subjectPublicKey bits
	params  []byte                      // the algorithm parameters' DER (nil when absent)
	curve   *curveInfo                  // EC keys
	bits    int32                       // Cryptographic Length

	// encrypted marks a private key registered as an encrypted PKCS#8
	// EncryptedPrivateKeyInfo: it is returned as such and converts to
	// nothing; alg and bits are unknown (0).
	encrypted bool
}

func badKey(format string, args ...any) error {
	return kmip.Errorf(kmip.ResultReasonInvalidField, "key material: "+format, args...)
}

func unmarshalAll(der []byte, out any) bool {
	rest, err := asn1.Unmarshal(der, out)
	return err == nil && len(rest) == 0
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		// Only kmipd's own well-formed values are marshalled here.
		panic("lifecycle: asn1: " + err.Error())
	}
	return b
}

// parseAsymKey parses the canonical encoding of a private (PKCS#8) or public
// (SubjectPublicKeyInfo) key and checks its inner structure.
func parseAsymKey(der []byte, private bool) (*asymKey, error) {
	k := &asymKey{private: private, der: der}
	var algo pkix.AlgorithmIdentifier
	if private {
		var p pkcs8Info
		if !unmarshalAll(der, &p) || p.Version < 0 || p.Version > 1 {
			var e encryptedPKCS8
			if unmarshalAll(der, &e) && len(e.Data) > 0 {
				k.encrypted = true
				return k, nil
			}
			return nil, badKey("not a PKCS#8 private key")
		}
		algo, k.inner = p.Algo, p.PrivateKey
	} else {
		var p spkiInfo
		if !unmarshalAll(der, &p) || p.PublicKey.BitLength%8 != 0 {
			return nil, badKey("not an X.509 SubjectPublicKeyInfo")
		}
		algo, k.inner = p.Algo, p.PublicKey.Bytes
	}
	if len(algo.Parameters.FullBytes) > 0 {
		k.params = algo.Parameters.FullBytes
	}
	switch {
	case algo.Algorithm.Equal(oidRSA):
		k.alg = kmip.CryptographicAlgorithmRSA
		if private {
			var r pkcs1Private
			if !unmarshalAll(k.inner, &r) || r.N == nil || r.N.Sign() <= 0 {
				return nil, badKey("malformed PKCS#1 RSA private key")
			}
			k.bits = int32(r.N.BitLen())
		} else {
			var r pkcs1Public
			if !unmarshalAll(k.inner, &r) || r.N == nil || r.N.Sign() <= 0 || r.E.Sign() <= 0 {
				return nil, badKey("malformed PKCS#1 RSA public key")
			}
			k.bits = int32(r.N.BitLen())
		}
	case algo.Algorithm.Equal(oidEC):
		k.alg = kmip.CryptographicAlgorithmEC
		var oid asn1.ObjectIdentifier
		if k.params != nil && !unmarshalAll(k.params, &oid) {
			return nil, badKey("EC keys must name their curve")
		}
		if private {
			var e ecPrivateKey
			if !unmarshalAll(k.inner, &e) || e.Version != 1 || len(e.PrivateKey) == 0 {
				return nil, badKey("malformed EC private key")
			}
			if oid == nil {
				oid = e.Curve
			}
		} else if len(k.inner) == 0 {
			return nil, badKey("empty EC public key")
		}
		c, ok := curveByOID(oid)
		if !ok {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unsupported elliptic curve %v", oid)
		}
		k.curve, k.bits = c, c.bits
	case algo.Algorithm.Equal(oidDSA):
		k.alg = kmip.CryptographicAlgorithmDSA
		var p dssParams
		if k.params == nil || !unmarshalAll(k.params, &p) || p.P == nil || p.P.Sign() <= 0 {
			return nil, badKey("DSA keys must carry their domain parameters")
		}
		var x *big.Int
		if !unmarshalAll(k.inner, &x) {
			return nil, badKey("malformed DSA key")
		}
		k.bits = int32(p.P.BitLen())
	case algo.Algorithm.Equal(oidEd25519):
		k.alg, k.bits = kmip.CryptographicAlgorithmEd25519, 255
		if !edKeyOK(k.inner, private, 32) {
			return nil, badKey("malformed Ed25519 key")
		}
	case algo.Algorithm.Equal(oidEd448):
		k.alg, k.bits = kmip.CryptographicAlgorithmEd448, 448
		if !edKeyOK(k.inner, private, 57) {
			return nil, badKey("malformed Ed448 key")
		}
	default:
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unsupported key algorithm %v", algo.Algorithm)
	}
	return k, nil
}

// edKeyOK checks an RFC 8410 key: a public key is the n key bytes, a
// private key an OCTET STRING of them.
func edKeyOK(inner []byte, private bool, n int) bool {
	if !private {
		return len(inner) == n
	}
	var seed []byte
	return unmarshalAll(inner, &seed) && len(seed) == n
}

func wrapPKCS8(oid asn1.ObjectIdentifier, params asn1.RawValue, inner []byte) []byte {
	return mustMarshal(pkcs8Info{Algo: pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: params}, PrivateKey: inner})
}

func wrapSPKI(oid asn1.ObjectIdentifier, params asn1.RawValue, key []byte) []byte {
	return mustMarshal(spkiInfo{
		Algo:      pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: params},
		PublicKey: asn1.BitString{Bytes: key, BitLength: 8 * len(key)},
	})
}

func oidParams(oid asn1.ObjectIdentifier) asn1.RawValue {
	return asn1.RawValue{FullBytes: mustMarshal(oid)}
}

// keyHints are what the request says about a key besides its material,
// for formats that do not carry everything (an ECPrivateKey without its
// curve).
type keyHints struct {
	curve kmip.RecommendedCurve // Cryptographic Domain Parameters
	bits  int32                 // Cryptographic Length
}

// importAsymKey converts key material in a registered format into the
// canonical encoding. km is the Key Material item: a Byte String for the
// DER formats, a Structure for the Transparent ones.
func importAsymKey(private bool, format kmip.KeyFormatType, km ttlv.Item, h keyHints) (*asymKey, error) {
	var der []byte
	bytesFormat := func() ([]byte, error) {
		if km.Type != ttlv.TypeByteString {
			return nil, badKey("%s material must be a Byte String", format)
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
			der = wrapPKCS8(oidRSA, asn1Null, inner)
		} else {
			der = wrapSPKI(oidRSA, asn1Null, inner)
		}
	case private && format == kmip.KeyFormatTypeECPrivateKey:
		inner, err := bytesFormat()
		if err != nil {
			return nil, err
		}
		var e ecPrivateKey
		if !unmarshalAll(inner, &e) {
			return nil, badKey("malformed EC private key")
		}
		oid := e.Curve
		if oid == nil {
			c, ok := hintCurve(h)
			if !ok {
				return nil, badKey("the EC private key does not name its curve")
			}
			oid = c.oid
		}
		der = wrapPKCS8(oidEC, oidParams(oid), inner)
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
	return parseAsymKey(der, private)
}

func hintCurve(h keyHints) (*curveInfo, bool) {
	if h.curve != 0 {
		return curveByEnum(h.curve)
	}
	switch h.bits {
	case 256:
		return curveByEnum(kmip.RecommendedCurveP_256)
	case 384:
		return curveByEnum(kmip.RecommendedCurveP_384)
	case 521:
		return curveByEnum(kmip.RecommendedCurveP_521)
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
		return nil, badKey("transparent key material must be a Structure")
	}
	f := &transparentFields{ints: map[ttlv.Tag]*big.Int{}}
	seen := map[ttlv.Tag]bool{}
	v := km.Children()
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return nil, badKey("malformed transparent key")
		}
		known := false
		for _, t := range allowed {
			known = known || t == it.Tag
		}
		if !known || seen[it.Tag] {
			return nil, badKey("unexpected %s in transparent key", it.Tag)
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
				return nil, badKey("negative %s", it.Tag)
			}
			f.ints[it.Tag] = x
		default:
			return nil, badKey("%s has type %s", it.Tag, it.Type)
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
			return nil, badKey("a Transparent RSA Public Key needs Modulus and Public Exponent")
		}
		return wrapSPKI(oidRSA, asn1Null, mustMarshal(pkcs1Public{N: n, E: e})), nil
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
	return wrapPKCS8(oidRSA, asn1Null, mustMarshal(r)), nil
}

// completeRSA fills in the fields of a PKCS#1 private key that a
// Transparent RSA Private Key may leave out (all but the Modulus are
// optional in KMIP): the public exponent from the private one and the
// primes, the primes from the exponents, the CRT values from the rest.
func completeRSA(r *pkcs1Private) error {
	one := big.NewInt(1)
	if r.N == nil || r.N.Sign() == 0 {
		return badKey("a Transparent RSA Private Key needs its Modulus")
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
			return badKey("P × Q is not the Modulus")
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
		return badKey("a Transparent RSA Private Key needs its exponents, or one exponent and the primes")
	}
	if r.P == nil || r.Q == nil {
		p, q, ok := factorRSA(r.N, r.E, r.D)
		if !ok {
			return badKey("cannot recover the primes of the RSA key")
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
			return badKey("the RSA primes are not coprime")
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
		return nil, badKey("a Transparent DSA key needs P, Q, G and %s", last)
	}
	params := asn1.RawValue{FullBytes: mustMarshal(dssParams{P: p, Q: q, G: g})}
	if private {
		return wrapPKCS8(oidDSA, params, mustMarshal(x)), nil
	}
	return wrapSPKI(oidDSA, params, mustMarshal(x)), nil
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
	c, ok := curveByEnum(f.curve)
	if !ok {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unsupported Recommended Curve %s", f.curve)
	}
	if !private {
		if len(f.q) == 0 {
			return nil, badKey("a Transparent EC Public Key needs its Q String")
		}
		return wrapSPKI(oidEC, oidParams(c.oid), f.q), nil
	}
	d := f.ints[ttlv.TagD]
	size := (int(c.bits) + 7) / 8
	if d == nil || d.Sign() == 0 || d.BitLen() > 8*size {
		return nil, badKey("a Transparent EC Private Key needs a D on its curve")
	}
	scalar := d.FillBytes(make([]byte, size))
	defer clear(scalar)
	e := ecPrivateKey{Version: 1, PrivateKey: scalar, Curve: c.oid}
	if c.ecdh != nil {
		pk, err := c.ecdh().NewPrivateKey(scalar)
		if err != nil {
			return nil, badKey("D is not a valid %s private key", f.curve)
		}
		pub := pk.PublicKey().Bytes()
		e.PublicKey = asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}
	}
	inner := mustMarshal(e)
	defer clear(inner)
	return wrapPKCS8(oidEC, oidParams(c.oid), inner), nil
}

// keyMaterialIn encodes k as the Key Material item of format f: a Byte
// String for the DER formats, a Structure for the Transparent ones. It also
// returns what the Digest of that format is computed over: the bytes of a
// Byte String, the whole encoded item of a Structure. A format k cannot be
// given in fails with Key Format Type Not Supported. The results may hold
// private key material: clear them after use.
func (k *asymKey) keyMaterialIn(f kmip.KeyFormatType) (item, digested []byte, err error) {
	b := ttlv.NewBuilder(make([]byte, 0, len(k.der)+64))
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
		return nil, nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "a %s %s cannot be returned as %s", k.alg, k.kind(), f)
	}
	switch {
	case k.private && f == kmip.KeyFormatTypePKCS_8, !k.private && f == kmip.KeyFormatTypeX_509:
		return bytesItem(k.der)
	case k.encrypted:
		return nil, nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "an encrypted PKCS#8 key cannot be returned as %s", f)
	case f == kmip.KeyFormatTypePKCS_1 && k.alg == kmip.CryptographicAlgorithmRSA:
		return bytesItem(k.inner)
	case f == kmip.KeyFormatTypeECPrivateKey && k.private && k.alg == kmip.CryptographicAlgorithmEC:
		var e ecPrivateKey
		if !unmarshalAll(k.inner, &e) {
			return nil, nil, badKey("stored EC key is malformed")
		}
		if e.Curve != nil {
			return bytesItem(k.inner)
		}
		// PKCS#8 may leave the curve to the algorithm identifier; an
		// ECPrivateKey on its own names it.
		e.Curve = k.curve.oid
		inner := mustMarshal(e)
		defer clear(inner)
		return bytesItem(inner)
	case f == kmip.KeyFormatTypeTransparentRSAPrivateKey && k.private && k.alg == kmip.CryptographicAlgorithmRSA:
		var r pkcs1Private
		if !unmarshalAll(k.inner, &r) {
			return nil, nil, badKey("stored RSA key is malformed")
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
	case f == kmip.KeyFormatTypeTransparentRSAPublicKey && !k.private && k.alg == kmip.CryptographicAlgorithmRSA:
		var r pkcs1Public
		if !unmarshalAll(k.inner, &r) {
			return nil, nil, badKey("stored RSA key is malformed")
		}
		return structItem(func() {
			b.AddBigIntValue(ttlv.TagModulus, r.N)
			b.AddBigIntValue(ttlv.TagPublicExponent, r.E)
		})
	case (f == kmip.KeyFormatTypeTransparentDSAPrivateKey && k.private ||
		f == kmip.KeyFormatTypeTransparentDSAPublicKey && !k.private) && k.alg == kmip.CryptographicAlgorithmDSA:
		var p dssParams
		var x *big.Int
		if !unmarshalAll(k.params, &p) || !unmarshalAll(k.inner, &x) {
			return nil, nil, badKey("stored DSA key is malformed")
		}
		last := ttlv.TagY
		if k.private {
			last = ttlv.TagX
		}
		return structItem(func() {
			b.AddBigIntValue(ttlv.TagP, p.P)
			b.AddBigIntValue(ttlv.TagQ, p.Q)
			b.AddBigIntValue(ttlv.TagG, p.G)
			b.AddBigIntValue(last, x)
		})
	case transparentEC(f, k.private) && k.alg == kmip.CryptographicAlgorithmEC:
		if !k.private {
			return structItem(func() {
				b.AddEnum(ttlv.TagRecommendedCurve, uint32(k.curve.curve))
				b.AddBytes(ttlv.TagQString, k.inner)
			})
		}
		var e ecPrivateKey
		if !unmarshalAll(k.inner, &e) {
			return nil, nil, badKey("stored EC key is malformed")
		}
		return structItem(func() {
			b.AddEnum(ttlv.TagRecommendedCurve, uint32(k.curve.curve))
			b.AddBigIntValue(ttlv.TagD, new(big.Int).SetBytes(e.PrivateKey))
		})
	}
	return unsupported()
}

func (k *asymKey) kind() string {
	if k.private {
		return "private key"
	}
	return "public key"
}

// keyDigest returns the Digest attribute of k in format f (KMIP 2.0 §4.17:
// SHA-256 of the key material in that format).
func (k *asymKey) keyDigest(f kmip.KeyFormatType) (objects.Attribute, error) {
	item, digested, err := k.keyMaterialIn(f)
	if err != nil {
		return objects.Attribute{}, err
	}
	defer clear(item)
	return objects.Digest(digested, f), nil
}

// presentation returns what the Digest of k in format f is computed over
// (see keyMaterialIn), as a new slice.
func (k *asymKey) presentation(f kmip.KeyFormatType) ([]byte, error) {
	item, d, err := k.keyMaterialIn(f)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), d...)
	clear(item)
	return out, nil
}
