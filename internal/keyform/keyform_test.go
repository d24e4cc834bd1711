package keyform

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The Ed25519 keys of RFC 8410 §10.1 (public) and §10.3 (private) parse,
// and come back unchanged in their own format.
func TestParse_RFC8410Ed25519(t *testing.T) {
	priv := unb64(t, "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC")
	pub := unb64(t, "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")
	for _, c := range []struct {
		der     []byte
		private bool
		format  kmip.KeyFormatType
		inner   string
	}{
		{priv, true, kmip.KeyFormatTypePKCS_8, "0420d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842"},
		{pub, false, kmip.KeyFormatTypeX_509, "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"},
	} {
		k, err := Parse(c.der, c.private)
		if err != nil {
			t.Fatal(err)
		}
		if k.Alg != kmip.CryptographicAlgorithmEd25519 || k.Bits != 255 || !bytes.Equal(k.Inner, unhex(t, c.inner)) {
			t.Fatalf("parsed %v/%d, inner %x", k.Alg, k.Bits, k.Inner)
		}
		got, err := k.Presentation(c.format)
		if err != nil || !bytes.Equal(got, c.der) {
			t.Fatalf("%s: %x, %v", c.format, got, err)
		}
		// The same bytes registered in their format give the same key.
		var b ttlv.Builder
		b.AddBytes(ttlv.TagKeyMaterial, c.der)
		raw, _ := b.Bytes()
		v := ttlv.Value(raw)
		it, _ := v.Next()
		k2, err := Import(c.private, c.format, it, Hints{})
		if err != nil || !bytes.Equal(k2.DER, c.der) {
			t.Fatalf("Import: %x, %v", k2.DER, err)
		}
		// A private key is not a public key and the other way round.
		if _, err := Parse(c.der, !c.private); err == nil {
			t.Fatal("parsed as the wrong kind of key")
		}
	}
}

// Curve identifiers: RFC 5480 §2.1.1.1 (NIST curves), SEC 2 §A.2
// (secp256k1), RFC 5639 §4.1 (brainpoolP256r1).
func TestCurves(t *testing.T) {
	for _, c := range []struct {
		oid  asn1.ObjectIdentifier
		name kmip.RecommendedCurve
		bits int32
	}{
		{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}, kmip.RecommendedCurveP_192, 192},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 33}, kmip.RecommendedCurveP_224, 224},
		{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, kmip.RecommendedCurveP_256, 256},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, kmip.RecommendedCurveP_384, 384},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, kmip.RecommendedCurveP_521, 521},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 10}, kmip.RecommendedCurveSECP256K1, 256},
		{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}, kmip.RecommendedCurveBRAINPOOLP256R1, 256},
	} {
		byOID, ok := CurveByOID(c.oid)
		if !ok || byOID.Name != c.name || byOID.Bits != c.bits {
			t.Fatalf("%v: %+v, %v", c.oid, byOID, ok)
		}
		if byEnum, ok := CurveByEnum(c.name); !ok || byEnum != byOID {
			t.Fatalf("%s: %+v, %v", c.name, byEnum, ok)
		}
	}
	if _, ok := CurveByOID(asn1.ObjectIdentifier{1, 2, 3}); ok {
		t.Fatal("an unknown curve was found")
	}
	for bits, want := range map[int32]kmip.RecommendedCurve{256: kmip.RecommendedCurveP_256, 384: kmip.RecommendedCurveP_384, 521: kmip.RecommendedCurveP_521} {
		if c, ok := HintCurve(Hints{Bits: bits}); !ok || c.Name != want {
			t.Fatalf("%d bits: %+v", bits, c)
		}
	}
	if _, ok := HintCurve(Hints{Bits: 255}); ok {
		t.Fatal("255 bits named a curve")
	}
}

func transparent(fill func(b *ttlv.Builder)) ttlv.Item {
	var b ttlv.Builder
	b.Begin(ttlv.TagKeyMaterial)
	fill(&b)
	b.End()
	raw, _ := b.Bytes()
	v := ttlv.Value(raw)
	it, _ := v.Next()
	return it
}

// A Transparent EC Private Key on P-256 with the private key of RFC 6979
// §A.2.5 gets the public point given there, and converts back to the same
// D; the public key made of that point does too.
func TestImport_TransparentEC_RFC6979(t *testing.T) {
	x := new(big.Int).SetBytes(unhex(t, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"))
	point := unhex(t, "04"+
		"60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"+
		"7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")
	k, err := Import(true, kmip.KeyFormatTypeTransparentECPrivateKey, transparent(func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagRecommendedCurve, uint32(kmip.RecommendedCurveP_256))
		b.AddBigIntValue(ttlv.TagD, x)
	}), Hints{})
	if err != nil {
		t.Fatal(err)
	}
	var e ECPrivateKey
	if !UnmarshalAll(k.Inner, &e) || !bytes.Equal(e.PublicKey.Bytes, point) || k.Curve.Name != kmip.RecommendedCurveP_256 || k.Bits != 256 {
		t.Fatalf("public point %x on %v", e.PublicKey.Bytes, k.Curve)
	}
	item, _, err := k.MaterialIn(kmip.KeyFormatTypeTransparentECPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	iv := ttlv.Value(item)
	it, _ := iv.Next()
	d, ok := it.Children().Find(ttlv.TagD)
	if !ok || d.BigInt().Cmp(x) != 0 {
		t.Fatalf("D came back as %v", d.BigInt())
	}
	// The bare ECPrivateKey, without its curve, names it from the hints.
	e.Curve = nil
	var b ttlv.Builder
	b.AddBytes(ttlv.TagKeyMaterial, MustMarshal(e))
	raw, _ := b.Bytes()
	bv := ttlv.Value(raw)
	bare, _ := bv.Next()
	if _, err := Import(true, kmip.KeyFormatTypeECPrivateKey, bare, Hints{}); err == nil {
		t.Fatal("an ECPrivateKey without a curve was imported without hints")
	}
	k2, err := Import(true, kmip.KeyFormatTypeECPrivateKey, bare, Hints{Bits: 256})
	if err != nil || k2.Curve.Name != kmip.RecommendedCurveP_256 {
		t.Fatalf("with hints: %v", err)
	}

	pub, err := Import(false, kmip.KeyFormatTypeTransparentECPublicKey, transparent(func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagRecommendedCurve, uint32(kmip.RecommendedCurveP_256))
		b.AddBytes(ttlv.TagQString, point)
	}), Hints{})
	if err != nil || !bytes.Equal(pub.Inner, point) {
		t.Fatalf("public key: %x, %v", pub.Inner, err)
	}
}

// The primes come back from the exponents: the example key of the RSA
// article of Wikipedia (p = 61, q = 53, e = 17, d = 413 = e⁻¹ mod λ(n)).
func TestFactorRSA(t *testing.T) {
	p, q, ok := factorRSA(big.NewInt(3233), big.NewInt(17), big.NewInt(413))
	if !ok || p.Int64()*q.Int64() != 3233 || p.Int64() != 61 && p.Int64() != 53 {
		t.Fatalf("%v × %v, %v", p, q, ok)
	}
	if _, _, ok := factorRSA(big.NewInt(3233), big.NewInt(17), big.NewInt(414)); ok {
		t.Fatal("factored with a wrong exponent")
	}
}

// A Transparent RSA Private Key with only the Modulus, Public Exponent and
// one prime is completed: W. Stallings, Cryptography and Network Security,
// §9.2 example (p = 17, q = 11, n = 187, e = 7, d = 23).
func TestCompleteRSA_Stallings(t *testing.T) {
	r := pkcs1Private{N: big.NewInt(187), E: big.NewInt(7), P: big.NewInt(17)}
	if err := completeRSA(&r); err != nil {
		t.Fatal(err)
	}
	// dP = d mod (p−1) = 23 mod 16 = 7; dQ = 23 mod 10 = 3; qInv = 11⁻¹ mod 17 = 14.
	want := []int64{187, 7, 23, 17, 11, 7, 3, 14}
	got := []*big.Int{r.N, r.E, r.D, r.P, r.Q, r.Dp, r.Dq, r.Qi}
	for i := range want {
		if got[i].Int64() != want[i] {
			t.Fatalf("field %d is %v, want %d", i, got[i], want[i])
		}
	}
	bad := pkcs1Private{N: big.NewInt(187), E: big.NewInt(7), P: big.NewInt(13)}
	if err := completeRSA(&bad); err == nil {
		t.Fatal("completed a key whose prime does not divide the modulus")
	}
}
