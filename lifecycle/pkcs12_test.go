package lifecycle_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// PKCS#12 Get and Register (KMIP 2.0 §6.1.19, §6.1.40; TC-PKCS12-1/2).
// The PFX the server returns is decoded with go-pkcs12 and compared with
// what was registered.

const p12Password = "pa55word"

type p12Fixture struct {
	key      *ecdsa.PrivateKey
	keyDER   []byte
	ca, leaf *x509.Certificate
}

func newP12Fixture(t *testing.T) *p12Fixture {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234), Subject: pkix.Name{CommonName: "p12 CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	// A serial number with its high bit set: its DER content has a leading 00.
	serial, _ := new(big.Int).SetString("d2f5bad76a5ac8f9", 16)
	leafTmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "p12 leaf"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &p12Fixture{key: key, keyDER: keyDER, ca: ca, leaf: leaf}
}

func p12ID(t *testing.T, it *kmip.ResponseItem) string {
	t.Helper()
	var id []byte
	p := it.Payload
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		t.Fatalf("no Unique Identifier: %s", ttlv.Format(it.Payload))
	}
	return string(id)
}

func p12Link(b *ttlv.Builder, typ kmip.LinkType, id string) {
	b.Begin(ttlv.TagLink)
	b.AddEnum(ttlv.TagLinkType, uint32(typ))
	b.AddText(ttlv.TagLinkedObjectIdentifier, id)
	b.End()
}

// p12RegisterPassword registers the password as Secret Data, Active when
// active is set.
func p12RegisterPassword(t *testing.T, c *kmip.Client, active bool) string {
	t.Helper()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData))
		b.Begin(ttlv.TagAttributes)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskDeriveKey))
		if active {
			b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		}
		b.End()
		b.Begin(ttlv.TagSecretData)
		b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypePassword))
		kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeOpaque, Material: []byte(p12Password)})
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	return p12ID(t, it)
}

func p12RegisterCert(t *testing.T, c *kmip.Client, cert *x509.Certificate, next string) string {
	t.Helper()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeCertificate))
		b.Begin(ttlv.TagAttributes)
		if next != "" {
			p12Link(b, kmip.LinkTypePKCS_12CertificateLink, next)
		}
		b.End()
		b.Begin(ttlv.TagCertificate)
		b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypeX_509))
		b.AddBytes(ttlv.TagCertificateValue, cert.Raw)
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	return p12ID(t, it)
}

// p12Get returns the PFX of a Get with Key Format Type PKCS_12.
func p12Get(t *testing.T, c *kmip.Client, id string) ([]byte, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_12))
	})
	if err != nil {
		return nil, err
	}
	kb, ok := findPath(it.Payload, ttlv.TagPrivateKey, ttlv.TagKeyBlock)
	if !ok {
		t.Fatalf("Get PKCS_12: %s", ttlv.Format(it.Payload))
	}
	if f, ok := kb.Children().Find(ttlv.TagKeyFormatType); !ok || kmip.KeyFormatType(f.Uint32()) != kmip.KeyFormatTypePKCS_12 {
		t.Fatalf("Key Format Type: %s", ttlv.Format(it.Payload))
	}
	for _, tag := range []ttlv.Tag{ttlv.TagCryptographicAlgorithm, ttlv.TagCryptographicLength} {
		if _, ok := kb.Children().Find(tag); ok {
			t.Errorf("PKCS#12 Key Block has %s; the vectors show none", tag)
		}
	}
	km, ok := findPath(it.Payload, ttlv.TagPrivateKey, ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial)
	if !ok || km.Type != ttlv.TypeByteString {
		t.Fatalf("Key Material: %s", ttlv.Format(it.Payload))
	}
	return append([]byte(nil), km.Data...), nil
}

func TestPKCS12_GetChain(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	f := newP12Fixture(t)
	pw := p12RegisterPassword(t, c, true)
	caID := p12RegisterCert(t, c, f.ca, "")
	leafID := p12RegisterCert(t, c, f.leaf, caID)
	id, err := p12RegisterKey(t, c, f.keyDER, func(b *ttlv.Builder) {
		p12Link(b, kmip.LinkTypePKCS_12PasswordLink, pw)
		p12Link(b, kmip.LinkTypePKCS_12CertificateLink, leafID)
	})
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := p12Get(t, c, id)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(pfx, p12Password)
	if err != nil {
		t.Fatalf("decode PFX: %v", err)
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || !k.Equal(f.key) {
		t.Errorf("PFX private key differs from the registered one")
	}
	if !bytes.Equal(leaf.Raw, f.leaf.Raw) {
		t.Errorf("PFX certificate is not the linked end-entity certificate")
	}
	if len(cas) != 1 || !bytes.Equal(cas[0].Raw, f.ca.Raw) {
		t.Errorf("PFX CA certificates: got %d, want the linked CA", len(cas))
	}
	// Randomised salts and IVs: two Gets differ but both decode.
	if again, err := p12Get(t, c, id); err != nil || bytes.Equal(again, pfx) {
		t.Errorf("second Get: err %v, identical output %v", err, bytes.Equal(again, pfx))
	}
	if _, _, err := pkcs12.Decode(pfx, "wrong"); err == nil {
		t.Error("PFX decodes with a wrong password")
	}
}

func TestPKCS12_GetNeedsActivePassword(t *testing.T) {
	e := newEnv(t)
	f := newP12Fixture(t)
	{
		// KMIP 1.x answers Permission Denied (TC-PKCS12-2-14), covered
		// by the conformance runner.
		ver := kmip.V2_0
		c := e.srv.Dial(t, "alice", ver)
		pw := p12RegisterPassword(t, c, false)
		leafID := p12RegisterCert(t, c, f.leaf, "")
		id, err := p12RegisterKey(t, c, f.keyDER, func(b *ttlv.Builder) {
			p12Link(b, kmip.LinkTypePKCS_12PasswordLink, pw)
			p12Link(b, kmip.LinkTypePKCS_12CertificateLink, leafID)
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p12Get(t, c, id)
		want := kmip.ResultReasonWrongKeyLifecycleState
		if !ver.V2() {
			want = kmip.ResultReasonPermissionDenied
		}
		var ke *kmip.Error
		if !errors.As(err, &ke) || ke.Reason != want {
			t.Errorf("%v: Get PKCS_12 with a Pre-Active password: %v, want %s", ver, err, want)
		}
	}
}

func TestPKCS12_Register(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	f := newP12Fixture(t)
	pfx, err := pkcs12.Modern.Encode(f.key, f.leaf, []*x509.Certificate{f.ca}, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	register := func(pw string) (*kmip.ResponseItem, error) {
		return do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypePrivateKey))
			b.Begin(ttlv.TagAttributes)
			p12Link(b, kmip.LinkTypePKCS_12PasswordLink, pw)
			b.AddText(ttlv.TagPKCS_12FriendlyName, "alias")
			b.End()
			b.Begin(ttlv.TagPrivateKey)
			kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypePKCS_12, Material: pfx})
			b.End()
		})
	}
	pw := p12RegisterPassword(t, c, false)
	var ke *kmip.Error
	if _, err := register(pw); !errors.As(err, &ke) || ke.Reason != kmip.ResultReasonWrongKeyLifecycleState {
		t.Fatalf("Register with a Pre-Active password: %v", err)
	}
	if _, err := do(t, c, kmip.OperationActivate, byID(pw)); err != nil {
		t.Fatal(err)
	}
	it, err := register(pw)
	if err != nil {
		t.Fatal(err)
	}
	id := p12ID(t, it)
	// The key comes back as the PKCS#8 it was.
	it, err = do(t, c, kmip.OperationGet, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	if km, ok := findPath(it.Payload, ttlv.TagPrivateKey, ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial); !ok {
		t.Fatalf("Get: %s", ttlv.Format(it.Payload))
	} else if k, err := x509.ParsePKCS8PrivateKey(km.Data); err != nil || !f.key.Equal(k) {
		t.Errorf("registered key differs: %v", err)
	}
	// The end-entity certificate is found by its DER-encoded serial number.
	serialDER := append([]byte{0x02, 0x09, 0x00}, f.leaf.SerialNumber.Bytes()...)
	it, err = do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		b.Begin(ttlv.TagX_509CertificateIdentifier)
		b.AddBytes(ttlv.TagIssuerDistinguishedName, f.leaf.RawIssuer)
		b.AddBytes(ttlv.TagCertificateSerialNumber, serialDER)
		b.End()
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	uid, ok := it.Payload.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		t.Fatalf("Locate by DER serial number found nothing: %s", ttlv.Format(it.Payload))
	}
	leafID := string(uid.Data)
	if got := getCert(t, c, leafID); !bytes.Equal(got, f.leaf.Raw) {
		t.Errorf("located certificate is not the PFX's end-entity certificate")
	}
	// And the whole comes back out as PKCS#12 with the same chain.
	out, err := p12Get(t, c, id)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(out, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	if !f.key.Equal(key) || !bytes.Equal(leaf.Raw, f.leaf.Raw) || len(cas) != 1 || !bytes.Equal(cas[0].Raw, f.ca.Raw) {
		t.Errorf("round trip differs from the registered PFX")
	}
}

func p12RegisterKey(t *testing.T, c *kmip.Client, der []byte, attrs func(b *ttlv.Builder)) (string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypePrivateKey))
		b.Begin(ttlv.TagAttributes)
		attrs(b)
		b.End()
		b.Begin(ttlv.TagPrivateKey)
		kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypePKCS_8, Material: der})
		b.End()
	})
	if err != nil {
		return "", err
	}
	return p12ID(t, it), nil
}

func getCert(t *testing.T, c *kmip.Client, id string) []byte {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := findPath(it.Payload, ttlv.TagCertificate, ttlv.TagCertificateValue)
	if !ok {
		t.Fatalf("Get certificate: %s", ttlv.Format(it.Payload))
	}
	return v.Data
}
