package lifecycle

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// Get of an asymmetric key in the formats clients ask for most, straight
// from the stored DER with cryptobyte: no parse into Go keys, no big.Int, no
// re-encoding. What these cannot serve, keyMaterialItem converts through
// internal/keyform, which gives the same bytes.

// rsaOID is the DER of the rsaEncryption object identifier (RFC 8017).
var rsaOID = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}

// derMaterial returns, without parsing or copying, the Key Material of an
// asymmetric key in a DER format that is part of what kmipd stores: the
// stored PKCS#8 or SubjectPublicKeyInfo itself, or the PKCS#1 encoding an
// RSA key's holds. ok is false for other formats and keys, which
// keyMaterialItem converts.
func derMaterial(o *objects.Object, material []byte, format kmip.KeyFormatType) (der []byte, ok bool) {
	if !asymmetric(o) {
		return nil, false
	}
	if format == o.KeyFormat {
		return material, true
	}
	if format != kmip.KeyFormatTypePKCS_1 {
		return nil, false
	}
	return rsaInner(o, material)
}

// rsaInner returns the PKCS#1 RSAPrivateKey or RSAPublicKey inside an RSA
// key's stored PKCS#8 or SubjectPublicKeyInfo.
func rsaInner(o *objects.Object, material []byte) ([]byte, bool) {
	// PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING, ... };
	// SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }.
	in := cryptobyte.String(material)
	var seq, algo, oid cryptobyte.String
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() {
		return nil, false
	}
	private := o.Type == kmip.ObjectTypePrivateKey
	if private && !seq.SkipASN1(casn1.INTEGER) {
		return nil, false
	}
	if !seq.ReadASN1(&algo, casn1.SEQUENCE) || !algo.ReadASN1Element(&oid, casn1.OBJECT_IDENTIFIER) || !bytes.Equal(oid, rsaOID) {
		return nil, false
	}
	if private {
		var inner cryptobyte.String
		if !seq.ReadASN1(&inner, casn1.OCTET_STRING) || len(inner) == 0 {
			return nil, false
		}
		return inner, true
	}
	var bits []byte
	if !seq.ReadASN1BitStringAsBytes(&bits) || !seq.Empty() || len(bits) == 0 {
		return nil, false
	}
	return bits, true
}

// transparentRSA encodes the Key Material of an RSA key as a Transparent RSA
// Private or Public Key into buf: the DER INTEGERs of its PKCS#1 encoding
// are already the Big Integers' two's complement bytes. ok is false for
// other keys and formats, and for PKCS#1 that is not minimal DER with
// positive values and exactly these fields (keyform then decides).
func transparentRSA(o *objects.Object, material []byte, format kmip.KeyFormatType, buf []byte) (item []byte, ok bool) {
	private := o.Type == kmip.ObjectTypePrivateKey
	if !asymmetric(o) || format != kmip.KeyFormatTypeTransparentRSAPrivateKey && format != kmip.KeyFormatTypeTransparentRSAPublicKey ||
		private != (format == kmip.KeyFormatTypeTransparentRSAPrivateKey) {
		return nil, false
	}
	inner, ok := rsaInner(o, material)
	if !ok {
		return nil, false
	}
	in := cryptobyte.String(inner)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() {
		return nil, false
	}
	// RSAPrivateKey: version, n, e, d, p, q, dp, dq, qi; RSAPublicKey: n, e.
	var v [9]cryptobyte.String
	n := 2
	if private {
		n = 9
	}
	for i := range n {
		if !seq.ReadASN1(&v[i], casn1.INTEGER) || !positiveDER(v[i]) {
			return nil, false
		}
	}
	if !seq.Empty() {
		return nil, false // multi-prime
	}
	var b ttlv.Builder
	b.Reset(buf[:0], 0)
	b.Begin(ttlv.TagKeyMaterial)
	if private {
		b.AddBigInt(ttlv.TagModulus, v[1])
		b.AddBigInt(ttlv.TagPrivateExponent, v[3])
		b.AddBigInt(ttlv.TagPublicExponent, v[2])
		b.AddBigInt(ttlv.TagP, v[4])
		b.AddBigInt(ttlv.TagQ, v[5])
		b.AddBigInt(ttlv.TagPrimeExponentP, v[6])
		b.AddBigInt(ttlv.TagPrimeExponentQ, v[7])
		b.AddBigInt(ttlv.TagCRTCoefficient, v[8])
	} else {
		b.AddBigInt(ttlv.TagModulus, v[0])
		b.AddBigInt(ttlv.TagPublicExponent, v[1])
	}
	b.End()
	item, err := b.Bytes()
	return item, err == nil
}

// positiveDER reports whether x is the content of a minimally encoded,
// non-negative DER INTEGER: what big.Int would write again byte for byte.
func positiveDER(x []byte) bool {
	return len(x) > 0 && x[0]&0x80 == 0 && (len(x) == 1 || x[0] != 0 || x[1]&0x80 != 0)
}
