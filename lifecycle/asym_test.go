package lifecycle_test

import (
	"bytes"
	"crypto/dsa" //lint:ignore SA1019 DSA keys are registered and returned, never used
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// asKey writes a Private Key or Public Key object with the given format;
// material is a Byte String, or fill writes a Transparent structure.
func asKey(typ kmip.ObjectType, format kmip.KeyFormatType, alg kmip.CryptographicAlgorithm, bits int32, material []byte, fill func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		tag := ttlv.TagPublicKey
		if typ == kmip.ObjectTypePrivateKey {
			tag = ttlv.TagPrivateKey
		}
		b.Begin(tag)
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(format))
		b.Begin(ttlv.TagKeyValue)
		if fill != nil {
			b.Begin(ttlv.TagKeyMaterial)
			fill(b)
			b.End()
		} else {
			b.AddBytes(ttlv.TagKeyMaterial, material)
		}
		b.End()
		if alg != 0 {
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(alg))
		}
		if bits != 0 {
			b.AddInt32(ttlv.TagCryptographicLength, bits)
		}
		b.End()
		b.End()
	}
}

// asRegister registers an object (written by obj) with optional 2.x
// attributes and returns its identifier.
func asRegister(t *testing.T, c *kmip.Client, typ kmip.ObjectType, attrs func(b *ttlv.Builder), obj func(b *ttlv.Builder)) (string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(typ))
		if c.Version.V2() {
			b.Begin(ttlv.TagAttributes)
			if attrs != nil {
				attrs(b)
			}
			b.End()
		} else if attrs != nil {
			b.Begin(ttlv.TagTemplateAttribute)
			attrs(b)
			b.End()
		}
		obj(b)
	})
	if err != nil {
		return "", err
	}
	id, ok := it.Payload.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		t.Fatalf("Register response: %s", ttlv.Format(it.Payload))
	}
	return string(id.Data), nil
}

func asMustRegister(t *testing.T, c *kmip.Client, typ kmip.ObjectType, obj func(b *ttlv.Builder)) string {
	t.Helper()
	id, err := asRegister(t, c, typ, nil, obj)
	if err != nil {
		t.Fatalf("register %s: %v", typ, err)
	}
	return id
}

func asTransparentRSA(k *rsa.PrivateKey, all bool) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.AddBigIntValue(ttlv.TagModulus, k.N)
		b.AddBigIntValue(ttlv.TagPrivateExponent, k.D)
		b.AddBigIntValue(ttlv.TagPublicExponent, big.NewInt(int64(k.E)))
		if all {
			b.AddBigIntValue(ttlv.TagP, k.Primes[0])
			b.AddBigIntValue(ttlv.TagQ, k.Primes[1])
			b.AddBigIntValue(ttlv.TagPrimeExponentP, k.Precomputed.Dp)
			b.AddBigIntValue(ttlv.TagPrimeExponentQ, k.Precomputed.Dq)
			b.AddBigIntValue(ttlv.TagCRTCoefficient, k.Precomputed.Qinv)
		}
	}
}

// TestRegister_RSAPrivateTransparent registers RSA private keys generated
// here in Transparent form, with and without their primes, and gets them
// back as PKCS#1 (compared with crypto/x509's encoding), PKCS#8 and
// Transparent.
func TestRegister_RSAPrivateTransparent(t *testing.T) {
	e := newEnv(t)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		c := e.srv.Dial(t, "alice", ver)
		for _, all := range []bool{true, false} {
			id := asMustRegister(t, c, kmip.ObjectTypePrivateKey,
				asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeTransparentRSAPrivateKey, kmip.CryptographicAlgorithmRSA, 2048, nil, asTransparentRSA(k, all)))
			f, km, err := kpGet(t, c, id, kmip.KeyFormatTypePKCS_1)
			if err != nil || f != kmip.KeyFormatTypePKCS_1 {
				t.Fatalf("Get as PKCS#1: %s, %v", f, err)
			}
			got, err := x509.ParsePKCS1PrivateKey(km.Data)
			if err != nil {
				t.Fatal(err)
			}
			if all && !bytes.Equal(km.Data, x509.MarshalPKCS1PrivateKey(k)) {
				t.Errorf("%s: PKCS#1 differs from crypto/x509's encoding of the key", ver)
			}
			if !asSameRSA(got, k) {
				t.Errorf("%s (primes given: %v): the PKCS#1 key is not the registered one", ver, all)
			}
			// The default format is the registered one.
			f, km, err = kpGet(t, c, id, 0)
			if err != nil || f != kmip.KeyFormatTypeTransparentRSAPrivateKey {
				t.Fatalf("default Get: %s, %v", f, err)
			}
			if tk := kpParsePrivate(t, f, km); !asSameRSA(tk.(*rsa.PrivateKey), k) {
				t.Errorf("%s: transparent key differs", ver)
			}
			if all {
				// The Digest is of the Key Material item as registered.
				var b ttlv.Builder
				b.Begin(ttlv.TagKeyMaterial)
				asTransparentRSA(k, true)(&b)
				b.End()
				raw, _ := b.Bytes()
				if !bytes.Equal(km.Raw, raw) {
					t.Errorf("%s: transparent key not returned as registered", ver)
				}
				want := sha256.Sum256(raw)
				pkcs1 := sha256.Sum256(x509.MarshalPKCS1PrivateKey(k))
				if !asHasDigest(t, c, id, want[:], kmip.KeyFormatTypeTransparentRSAPrivateKey) ||
					!asHasDigest(t, c, id, pkcs1[:], kmip.KeyFormatTypePKCS_1) {
					t.Errorf("%s: Digests of the transparent and PKCS#1 forms missing", ver)
				}
			}
			_, km, err = kpGet(t, c, id, kmip.KeyFormatTypePKCS_8)
			if err != nil {
				t.Fatal(err)
			}
			if pk := kpParsePrivate(t, kmip.KeyFormatTypePKCS_8, km); !asSameRSA(pk.(*rsa.PrivateKey), k) {
				t.Errorf("%s: PKCS#8 key differs", ver)
			}
			a := attrsOf(t, c, id)
			if kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmRSA ||
				a[ttlv.TagCryptographicLength].Int32() != 2048 || kmip.ObjectType(a[ttlv.TagObjectType].Uint32()) != kmip.ObjectTypePrivateKey {
				t.Errorf("%s: attributes %v", ver, a)
			}
		}
	}
}

// asSameRSA compares RSA private keys whatever the order of their primes
// (recovered primes may come in either order).
func asSameRSA(a, b *rsa.PrivateKey) bool {
	if !a.PublicKey.Equal(&b.PublicKey) || a.D.Cmp(b.D) != 0 || len(a.Primes) != 2 || len(b.Primes) != 2 || a.Validate() != nil {
		return false
	}
	p, q := a.Primes[0], a.Primes[1]
	return p.Cmp(b.Primes[0]) == 0 && q.Cmp(b.Primes[1]) == 0 || p.Cmp(b.Primes[1]) == 0 && q.Cmp(b.Primes[0]) == 0
}

// asHasDigest reports whether the object has a Digest with this value and
// format (2.x Get Attributes).
func asHasDigest(t *testing.T, c *kmip.Client, id string, value []byte, f kmip.KeyFormatType) bool {
	t.Helper()
	it, err := do(t, c, kmip.OperationGetAttributes, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		if c.Version.V2() {
			b.AddEnum(ttlv.TagAttributeReference, uint32(ttlv.TagDigest))
		} else {
			b.AddText(ttlv.TagAttributeName, "Digest")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	var visit func(v ttlv.Value)
	visit = func(v ttlv.Value) {
		for !v.Empty() {
			x, _ := v.Next()
			if x.Type != ttlv.TypeStructure {
				continue
			}
			dv, ok1 := x.Children().Find(ttlv.TagDigestValue)
			kf, ok2 := x.Children().Find(ttlv.TagKeyFormatType)
			if ok1 && ok2 && bytes.Equal(dv.Data, value) && kmip.KeyFormatType(kf.Uint32()) == f {
				found = true
			}
			visit(x.Children())
		}
	}
	visit(it.Payload)
	return found
}

// TestRegister_RSAFormats registers RSA keys in every DER and Transparent
// format and gets each back in every format, byte-identical where the
// format is the registered one.
func TestRegister_RSAFormats(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	privDER := map[kmip.KeyFormatType][]byte{
		kmip.KeyFormatTypePKCS_1: x509.MarshalPKCS1PrivateKey(k),
		kmip.KeyFormatTypePKCS_8: pkcs8,
	}
	pubDER := map[kmip.KeyFormatType][]byte{
		kmip.KeyFormatTypePKCS_1: x509.MarshalPKCS1PublicKey(&k.PublicKey),
		kmip.KeyFormatTypeX_509:  spki,
	}
	for f, der := range privDER {
		id := asMustRegister(t, c, kmip.ObjectTypePrivateKey, asKey(kmip.ObjectTypePrivateKey, f, 0, 0, der, nil))
		for _, g := range kpRSAPrivate {
			got, km, err := kpGet(t, c, id, g)
			if err != nil || got != g {
				t.Fatalf("registered %s, Get as %s: %v", f, g, err)
			}
			if g == f && !bytes.Equal(km.Data, der) {
				t.Errorf("%s not returned as registered", f)
			}
			if pk := kpParsePrivate(t, g, km); !pk.(*rsa.PrivateKey).Equal(k) {
				t.Errorf("registered %s, Get as %s: key differs", f, g)
			}
		}
		// Algorithm and length come from the key when not given.
		a := attrsOf(t, c, id)
		if kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmRSA || a[ttlv.TagCryptographicLength].Int32() != 2048 {
			t.Errorf("registered %s: derived algorithm %d length %d", f, a[ttlv.TagCryptographicAlgorithm].Uint32(), a[ttlv.TagCryptographicLength].Int32())
		}
		if d, _ := a[ttlv.TagDigest].Children().Find(ttlv.TagDigestValue); true {
			sum := sha256.Sum256(der)
			if !bytes.Equal(d.Data, sum[:]) {
				t.Errorf("registered %s: the first Digest is not of the registered bytes", f)
			}
		}
	}
	for f, der := range pubDER {
		id := asMustRegister(t, c, kmip.ObjectTypePublicKey, asKey(kmip.ObjectTypePublicKey, f, kmip.CryptographicAlgorithmRSA, 2048, der, nil))
		if got, km, err := kpGet(t, c, id, 0); err != nil || got != f || !bytes.Equal(km.Data, der) {
			t.Errorf("registered %s: default Get %s, %v", f, got, err)
		}
		for _, g := range kpRSAPublic {
			got, km, err := kpGet(t, c, id, g)
			if err != nil || got != g {
				t.Fatalf("registered %s, Get as %s: %v", f, g, err)
			}
			if !kpSamePublic(kpParsePublic(t, g, km), &k.PublicKey) {
				t.Errorf("registered %s, Get as %s: key differs", f, g)
			}
		}
	}
	id := asMustRegister(t, c, kmip.ObjectTypePublicKey, asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeTransparentRSAPublicKey, 0, 0, nil, func(b *ttlv.Builder) {
		b.AddBigIntValue(ttlv.TagModulus, k.N)
		b.AddBigIntValue(ttlv.TagPublicExponent, big.NewInt(int64(k.E)))
	}))
	if _, km, err := kpGet(t, c, id, kmip.KeyFormatTypeX_509); err != nil || !bytes.Equal(km.Data, spki) {
		t.Errorf("Transparent RSA Public Key as X.509: %v", err)
	}
}

// TestRegister_ECKeys registers EC keys as ECPrivateKey, PKCS#8, X.509 and
// Transparent, and converts between them.
func TestRegister_ECKeys(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		c := e.srv.Dial(t, "alice", ver)
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sec1, _ := x509.MarshalECPrivateKey(k)
		pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
		spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		for f, der := range map[kmip.KeyFormatType][]byte{kmip.KeyFormatTypeECPrivateKey: sec1, kmip.KeyFormatTypePKCS_8: pkcs8} {
			id := asMustRegister(t, c, kmip.ObjectTypePrivateKey, asKey(kmip.ObjectTypePrivateKey, f, kmip.CryptographicAlgorithmECDSA, 384, der, nil))
			for _, g := range kpECPrivate {
				got, km, err := kpGet(t, c, id, g)
				if err != nil || got != g {
					t.Fatalf("%s: registered %s, Get as %s: %v", ver, f, g, err)
				}
				if g == f && !bytes.Equal(km.Data, der) {
					t.Errorf("%s: %s not returned as registered", ver, f)
				}
				if !kpParsePrivate(t, g, km).(*ecdsa.PrivateKey).Equal(k) {
					t.Errorf("%s: registered %s, Get as %s: key differs", ver, f, g)
				}
			}
			if _, _, err := kpGet(t, c, id, kmip.KeyFormatTypePKCS_1); err == nil {
				t.Errorf("%s: an EC key returned as PKCS#1", ver)
			} else {
				wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
			}
			if a := attrsOf(t, c, id); kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmECDSA {
				t.Errorf("%s: the client's ECDSA algorithm was not kept", ver)
			}
		}
		// Transparent EC keys (the 1.x ECDSA form and the 2.x EC form).
		tf := kmip.KeyFormatTypeTransparentECDSAPrivateKey
		if ver.V2() {
			tf = kmip.KeyFormatTypeTransparentECPrivateKey
		}
		id := asMustRegister(t, c, kmip.ObjectTypePrivateKey, asKey(kmip.ObjectTypePrivateKey, tf, 0, 0, nil, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagRecommendedCurve, uint32(kmip.RecommendedCurveP_384))
			d, err := k.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			b.AddBigIntValue(ttlv.TagD, new(big.Int).SetBytes(d))
		}))
		_, km, err := kpGet(t, c, id, kmip.KeyFormatTypePKCS_8)
		if err != nil {
			t.Fatal(err)
		}
		if !kpParsePrivate(t, kmip.KeyFormatTypePKCS_8, km).(*ecdsa.PrivateKey).Equal(k) {
			t.Errorf("%s: Transparent EC private key as PKCS#8 differs", ver)
		}
		if a := attrsOf(t, c, id); kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmEC || a[ttlv.TagCryptographicLength].Int32() != 384 {
			t.Errorf("%s: derived EC attributes", ver)
		}
		pid := asMustRegister(t, c, kmip.ObjectTypePublicKey, asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeX_509, kmip.CryptographicAlgorithmEC, 384, spki, nil))
		for _, g := range kpECPublic {
			got, km, err := kpGet(t, c, pid, g)
			if err != nil || got != g {
				t.Fatalf("%s: EC public as %s: %v", ver, g, err)
			}
			if !kpSamePublic(kpParsePublic(t, g, km), &k.PublicKey) {
				t.Errorf("%s: EC public as %s differs", ver, g)
			}
		}
		// A curve Go lacks is stored and returned all the same.
		k1 := asSecp256k1(t)
		kid := asMustRegister(t, c, kmip.ObjectTypePrivateKey, asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeECPrivateKey, kmip.CryptographicAlgorithmEC, 256, k1, nil))
		if _, km, err := kpGet(t, c, kid, 0); err != nil || !bytes.Equal(km.Data, k1) {
			t.Errorf("%s: secp256k1 key not returned as registered: %v", ver, err)
		}
		if _, km, err := kpGet(t, c, kid, kmip.KeyFormatTypeTransparentECPrivateKey); err != nil {
			t.Errorf("%s: secp256k1 key as Transparent: %v", ver, err)
		} else if rc, _ := km.Children().Find(ttlv.TagRecommendedCurve); kmip.RecommendedCurve(rc.Uint32()) != kmip.RecommendedCurveSECP256K1 {
			t.Errorf("%s: secp256k1 key's curve %d", ver, rc.Uint32())
		}
	}
}

// asSecp256k1 returns an RFC 5915 ECPrivateKey on secp256k1, a curve
// crypto/x509 does not parse.
func asSecp256k1(t *testing.T) []byte {
	t.Helper()
	type ecPriv struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	}
	d := make([]byte, 32)
	d[31] = 7
	der, err := asn1.Marshal(ecPriv{Version: 1, PrivateKey: d, Curve: asn1.ObjectIdentifier{1, 3, 132, 0, 10}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestRegister_DSAKeys registers Transparent DSA keys, as the Baseline
// vectors do, and checks the X.509 encoding of the public key with
// crypto/x509.
func TestRegister_DSAKeys(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	var k dsa.PrivateKey
	if err := dsa.GenerateParameters(&k.Parameters, rand.Reader, dsa.L1024N160); err != nil {
		t.Fatal(err)
	}
	if err := dsa.GenerateKey(&k, rand.Reader); err != nil {
		t.Fatal(err)
	}
	params := func(b *ttlv.Builder) {
		b.AddBigIntValue(ttlv.TagP, k.P)
		b.AddBigIntValue(ttlv.TagQ, k.Q)
		b.AddBigIntValue(ttlv.TagG, k.G)
	}
	pub := asMustRegister(t, c, kmip.ObjectTypePublicKey, asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeTransparentDSAPublicKey, kmip.CryptographicAlgorithmDSA, 1024, nil, func(b *ttlv.Builder) {
		params(b)
		b.AddBigIntValue(ttlv.TagY, k.Y)
	}))
	_, km, err := kpGet(t, c, pub, kmip.KeyFormatTypeX_509)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.ParsePKIXPublicKey(km.Data)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := pk.(*dsa.PublicKey); !ok || p.Y.Cmp(k.Y) != 0 || p.P.Cmp(k.P) != 0 || p.G.Cmp(k.G) != 0 {
		t.Error("DSA public key as X.509 differs")
	}
	priv := asMustRegister(t, c, kmip.ObjectTypePrivateKey, asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeTransparentDSAPrivateKey, kmip.CryptographicAlgorithmDSA, 1024, nil, func(b *ttlv.Builder) {
		params(b)
		b.AddBigIntValue(ttlv.TagX, k.X)
	}))
	f, km, err := kpGet(t, c, priv, 0)
	if err != nil || f != kmip.KeyFormatTypeTransparentDSAPrivateKey {
		t.Fatalf("DSA private key: %s, %v", f, err)
	}
	if x, _ := km.Children().Find(ttlv.TagX); x.BigInt().Cmp(k.X) != 0 {
		t.Error("DSA private key differs")
	}
	_, _, err = kpGet(t, c, priv, kmip.KeyFormatTypePKCS_1)
	wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
}

// asCert makes a self-signed certificate.
func asCert(t *testing.T) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x3132333435363738),
		Subject:      pkix.Name{CommonName: "EE", Organization: []string{"Kmip Test"}, Country: []string{"AU"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der, k
}

func asCertObject(der []byte) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCertificate)
		b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypeX_509))
		b.AddBytes(ttlv.TagCertificateValue, der)
		b.End()
	}
}

// TestRegister_Certificate registers an X.509 certificate made here, gets
// it back byte-identical and checks the attributes derived from it in
// both protocol versions.
func TestRegister_Certificate(t *testing.T) {
	e := newEnv(t)
	der, _ := asCert(t)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		c := e.srv.Dial(t, "alice", ver)
		// The vectors give the Certificate Type as an attribute too.
		id, err := asRegister(t, c, kmip.ObjectTypeCertificate, func(b *ttlv.Builder) {
			if ver.V2() {
				b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypeX_509))
				b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskVerify))
				return
			}
			attr1(b, "Certificate Type", func() { b.AddEnum(ttlv.TagAttributeValue, uint32(kmip.CertificateTypeX_509)) })
		}, asCertObject(der))
		if err != nil {
			t.Fatal(err)
		}
		it, err := do(t, c, kmip.OperationGet, byID(id))
		if err != nil {
			t.Fatal(err)
		}
		v, ok := findPath(it.Payload, ttlv.TagCertificate, ttlv.TagCertificateValue)
		ct, _ := findPath(it.Payload, ttlv.TagCertificate, ttlv.TagCertificateType)
		if !ok || !bytes.Equal(v.Data, der) || kmip.CertificateType(ct.Uint32()) != kmip.CertificateTypeX_509 {
			t.Fatalf("%s: certificate not returned as registered: %s", ver, ttlv.Format(it.Payload))
		}
		a := attrsOf(t, c, id)
		sum := sha256.Sum256(der)
		dv, _ := a[ttlv.TagDigest].Children().Find(ttlv.TagDigestValue)
		if a[ttlv.TagCertificateLength].Int32() != int32(len(der)) ||
			kmip.CertificateType(a[ttlv.TagCertificateType].Uint32()) != kmip.CertificateTypeX_509 ||
			string(a[ttlv.TagCertificateSubjectCN].Data) != "EE" || string(a[ttlv.TagCertificateIssuerO].Data) != "Kmip Test" ||
			kmip.DigitalSignatureAlgorithm(a[ttlv.TagDigitalSignatureAlgorithm].Uint32()) != kmip.DigitalSignatureAlgorithmECDSAWithSHA256 ||
			kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmEC ||
			a[ttlv.TagCryptographicLength].Int32() != 256 || !bytes.Equal(dv.Data, sum[:]) {
			t.Errorf("%s: derived attributes wrong", ver)
		}
		xi, _ := a[ttlv.TagX_509CertificateIdentifier].Children().Find(ttlv.TagIssuerDistinguishedName)
		xs, _ := a[ttlv.TagX_509CertificateIdentifier].Children().Find(ttlv.TagCertificateSerialNumber)
		serial, _ := asn1.Marshal(cert.SerialNumber)
		if !bytes.Equal(xi.Data, cert.RawIssuer) || !bytes.Equal(xs.Data, serial) {
			t.Errorf("%s: X.509 Certificate Identifier wrong", ver)
		}
		ci, hasV1 := a[ttlv.TagCertificateIdentifier]
		if hasV1 != !ver.V2() {
			t.Errorf("%s: KMIP 1.x Certificate Identifier present=%v", ver, hasV1)
		}
		if hasV1 {
			is, _ := ci.Children().Find(ttlv.TagIssuer)
			sn, _ := ci.Children().Find(ttlv.TagSerialNumber)
			if string(is.Data) != "CN=EE,O=Kmip Test,C=AU" || string(sn.Data) != hex.EncodeToString(cert.SerialNumber.Bytes()) {
				t.Errorf("%s: Certificate Identifier %q %q", ver, is.Data, sn.Data)
			}
		}
		// A Key Format Type other than X.509 does not apply.
		_, err = do(t, c, kmip.OperationGet, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_1))
		})
		wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
	}
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	// A Certificate Type attribute contradicting the certificate, a
	// certificate that is no certificate.
	_, err = asRegister(t, c, kmip.ObjectTypeCertificate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypePGP))
	}, asCertObject(der))
	wantReason(t, err, kmip.ResultReasonInvalidField)
	_, err = asRegister(t, c, kmip.ObjectTypeCertificate, nil, asCertObject([]byte("not a certificate")))
	wantReason(t, err, kmip.ResultReasonInvalidField)
	// Server-derived attributes stay the server's otherwise.
	_, err = asRegister(t, c, kmip.ObjectTypePublicKey, func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagCertificateLength, 3)
	}, asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeX_509, 0, 0, mustSPKI(t), nil))
	wantReason(t, err, kmip.ResultReasonAttributeReadOnly)
}

func mustSPKI(t *testing.T) []byte {
	t.Helper()
	_, k := asCert(t)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestRegister_KeyErrors covers formats that do not fit the object and
// malformed material.
func TestRegister_KeyErrors(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	for _, tc := range []struct {
		name string
		typ  kmip.ObjectType
		obj  func(b *ttlv.Builder)
		want kmip.ResultReason
	}{
		{"private key as X.509", kmip.ObjectTypePrivateKey,
			asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeX_509, 0, 0, spki, nil), kmip.ResultReasonKeyFormatTypeNotSupported},
		{"public key as PKCS#8", kmip.ObjectTypePublicKey,
			asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypePKCS_8, 0, 0, spki, nil), kmip.ResultReasonKeyFormatTypeNotSupported},
		{"public key as Raw", kmip.ObjectTypePublicKey,
			asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeRaw, 0, 0, spki, nil), kmip.ResultReasonKeyFormatTypeNotSupported},
		{"garbage PKCS#1", kmip.ObjectTypePrivateKey,
			asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypePKCS_1, 0, 0, []byte{0x30, 0x03, 0x02, 0x01, 0x00}, nil), kmip.ResultReasonInvalidField},
		{"garbage X.509", kmip.ObjectTypePublicKey,
			asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeX_509, 0, 0, []byte("spki"), nil), kmip.ResultReasonInvalidField},
		{"algorithm contradicts key", kmip.ObjectTypePublicKey,
			asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeX_509, kmip.CryptographicAlgorithmEC, 0, spki, nil), kmip.ResultReasonInvalidField},
		{"transparent RSA without modulus", kmip.ObjectTypePublicKey,
			asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeTransparentRSAPublicKey, 0, 0, nil, func(b *ttlv.Builder) {
				b.AddBigIntValue(ttlv.TagPublicExponent, big.NewInt(65537))
			}), kmip.ResultReasonInvalidField},
		{"transparent RSA private, wrong primes", kmip.ObjectTypePrivateKey,
			asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeTransparentRSAPrivateKey, 0, 0, nil, func(b *ttlv.Builder) {
				b.AddBigIntValue(ttlv.TagModulus, k.N)
				b.AddBigIntValue(ttlv.TagPrivateExponent, k.D)
				b.AddBigIntValue(ttlv.TagP, big.NewInt(3))
				b.AddBigIntValue(ttlv.TagQ, big.NewInt(5))
			}), kmip.ResultReasonInvalidField},
		{"transparent EC on an unknown curve", kmip.ObjectTypePrivateKey,
			asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeTransparentECPrivateKey, 0, 0, nil, func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagRecommendedCurve, uint32(kmip.RecommendedCurveCURVE25519))
				b.AddBigIntValue(ttlv.TagD, big.NewInt(5))
			}), kmip.ResultReasonInvalidField},
		{"ECPrivateKey without curve", kmip.ObjectTypePrivateKey,
			asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeECPrivateKey, 0, 0, asNoCurve(t), nil), kmip.ResultReasonInvalidField},
		{"object type contradicts object", kmip.ObjectTypePrivateKey,
			asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeX_509, 0, 0, spki, nil), kmip.ResultReasonInvalidObjectType},
	} {
		_, err := asRegister(t, c, tc.typ, nil, tc.obj)
		if ke, ok := err.(*kmip.Error); !ok || ke.Reason != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
	// An ECPrivateKey without its curve is accepted when the request names
	// it (Cryptographic Domain Parameters).
	_, err := asRegister(t, c, kmip.ObjectTypePrivateKey, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCryptographicDomainParameters)
		b.AddEnum(ttlv.TagRecommendedCurve, uint32(kmip.RecommendedCurveP_256))
		b.End()
	}, asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypeECPrivateKey, 0, 0, asNoCurve(t), nil))
	if err != nil {
		t.Errorf("ECPrivateKey with the curve in the attributes: %v", err)
	}
	// Conversions a key cannot take.
	pub := asMustRegister(t, c, kmip.ObjectTypePublicKey, asKey(kmip.ObjectTypePublicKey, kmip.KeyFormatTypeX_509, 0, 0, spki, nil))
	for _, f := range []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_8, kmip.KeyFormatTypeTransparentRSAPrivateKey, kmip.KeyFormatTypeTransparentECPublicKey, kmip.KeyFormatTypeRaw} {
		_, _, err := kpGet(t, c, pub, f)
		wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
	}
	// A failed conversion does not consume Fresh.
	if !attrsOf(t, c, pub)[ttlv.TagFresh].Bool() {
		t.Error("a failed Get cleared Fresh")
	}
}

func asNoCurve(t *testing.T) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	type ecPriv struct {
		Version    int
		PrivateKey []byte
	}
	d, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(ecPriv{Version: 1, PrivateKey: d})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestRegister_PGPAndSplitKeys stores PGP Keys and Split Keys and returns
// them as registered.
func TestRegister_PGPAndSplitKeys(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	armored := []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n-----END PGP PUBLIC KEY BLOCK-----\n")
	kb := func(b *ttlv.Builder, alg kmip.CryptographicAlgorithm, bits int32, m []byte) {
		kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: m, CryptographicAlgorithm: alg, CryptographicLength: bits})
	}
	pgp := asMustRegister(t, c, kmip.ObjectTypePGPKey, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagPGPKey)
		b.AddInt32(ttlv.TagPGPKeyVersion, 4)
		kb(b, kmip.CryptographicAlgorithmRSA, 2048, armored)
		b.End()
	})
	it, err := do(t, c, kmip.OperationGet, byID(pgp))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := findPath(it.Payload, ttlv.TagPGPKey, ttlv.TagPGPKeyVersion)
	m, _ := findPath(it.Payload, ttlv.TagPGPKey, ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial)
	alg, _ := findPath(it.Payload, ttlv.TagPGPKey, ttlv.TagKeyBlock, ttlv.TagCryptographicAlgorithm)
	if v.Int32() != 4 || !bytes.Equal(m.Data, armored) || kmip.CryptographicAlgorithm(alg.Uint32()) != kmip.CryptographicAlgorithmRSA {
		t.Errorf("PGP Key: %s", ttlv.Format(it.Payload))
	}
	part := bytes.Repeat([]byte{0x42}, 32)
	split := asMustRegister(t, c, kmip.ObjectTypeSplitKey, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagSplitKey)
		b.AddInt32(ttlv.TagSplitKeyParts, 4)
		b.AddInt32(ttlv.TagKeyPartIdentifier, 2)
		b.AddInt32(ttlv.TagSplitKeyThreshold, 3)
		b.AddEnum(ttlv.TagSplitKeyMethod, uint32(kmip.SplitKeyMethodXOR))
		kb(b, kmip.CryptographicAlgorithmAES, 256, part)
		b.End()
	})
	it, err = do(t, c, kmip.OperationGet, byID(split))
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := findPath(it.Payload, ttlv.TagSplitKey, ttlv.TagSplitKeyParts)
	thr, _ := findPath(it.Payload, ttlv.TagSplitKey, ttlv.TagSplitKeyThreshold)
	m, _ = findPath(it.Payload, ttlv.TagSplitKey, ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial)
	if parts.Int32() != 4 || thr.Int32() != 3 || !bytes.Equal(m.Data, part) {
		t.Errorf("Split Key: %s", ttlv.Format(it.Payload))
	}
	_, _, err = kpGet(t, c, split, kmip.KeyFormatTypeTransparentSymmetricKey)
	wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
}
