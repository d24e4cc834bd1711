package lifecycle_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/ttlv"
)

// validate runs Validate and returns the Validity Indicator.
func validate(t *testing.T, c *kmip.Client, payload func(b *ttlv.Builder)) kmip.ValidityIndicator {
	t.Helper()
	it, err := do(t, c, kmip.OperationValidate, payload)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var v uint32
	p := it.Payload
	if !p.ReadEnum(ttlv.TagValidityIndicator, &v) || !p.Empty() {
		t.Fatalf("Validate response %s", ttlv.Format(it.Payload))
	}
	return kmip.ValidityIndicator(v)
}

func certByValue(der []byte) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCertificate)
		b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypeX_509))
		b.AddBytes(ttlv.TagCertificateValue, der)
		b.End()
	}
}

func pemDER(t *testing.T, p []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(p)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	return blk.Bytes
}

// Validate checks a chain against the client CA pool and the Certify CA:
// certificates the CA issued are Valid, by value or as managed objects, at
// 1.4 and 2.1; one of an unknown CA is Unknown; one past its validity at
// the Validity Date, one whose chain is given with a forged intermediate,
// and a revoked managed one are Invalid.
func TestValidate(t *testing.T) {
	e := newCertEnv(t, nil)
	client := pemDER(t, e.pki.Bundle.Clients["alice"].Cert)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
		c := e.srv.Dial(t, "admin", ver)
		if got := validate(t, c, certByValue(client)); got != kmip.ValidityIndicatorValid {
			t.Errorf("%s: client certificate: %s", ver, got)
		}
		_, csr := newCSR(t, "v-"+ver.String())
		it, err := do(t, c, kmip.OperationCertify, csrPayload(ver, csr, nil))
		if err != nil {
			t.Fatal(err)
		}
		id := idOf(t, it)
		if got := validate(t, c, byID(id)); got != kmip.ValidityIndicatorValid {
			t.Errorf("%s: issued certificate by id: %s", ver, got)
		}
		// The chain with its CA given too, CA first.
		caDER := pemDER(t, e.pki.Bundle.CACert)
		if got := validate(t, c, func(b *ttlv.Builder) { certByValue(caDER)(b); b.AddText(ttlv.TagUniqueIdentifier, id) }); got != kmip.ValidityIndicatorValid {
			t.Errorf("%s: chain CA + leaf: %s", ver, got)
		}
		future := time.Now().AddDate(20, 0, 0).Unix()
		if got := validate(t, c, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.AddDateTime(ttlv.TagValidityDate, future)
		}); got != kmip.ValidityIndicatorInvalid {
			t.Errorf("%s: expired at the Validity Date: %s", ver, got)
		}
		other := kmiptest.MustPKI(t, "carol")
		if got := validate(t, c, certByValue(pemDER(t, other.Bundle.Clients["carol"].Cert))); got != kmip.ValidityIndicatorUnknown {
			t.Errorf("%s: unknown CA: %s", ver, got)
		}
		if got := validate(t, c, certByValue([]byte("not a certificate"))); got != kmip.ValidityIndicatorInvalid {
			t.Errorf("%s: garbage: %s", ver, got)
		}
	}
	c := e.srv.Dial(t, "admin", kmip.V2_1)
	// A leaf signed by an intermediate that claims the CA's name but is
	// self-made: its chain does not verify.
	fakeCA, fakeKey := selfSignedCA(t, e.ca.Subject)
	leaf := leafOf(t, fakeCA, fakeKey)
	if got := validate(t, c, func(b *ttlv.Builder) { certByValue(leaf)(b); certByValue(fakeCA.Raw)(b) }); got == kmip.ValidityIndicatorValid {
		t.Errorf("forged chain: %s", got)
	}
	// Revoked: Invalid.
	_, csr := newCSR(t, "revoked")
	it, err := do(t, c, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, nil))
	if err != nil {
		t.Fatal(err)
	}
	id := idOf(t, it)
	if _, err := do(t, c, kmip.OperationRevoke, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.Begin(ttlv.TagRevocationReason)
		b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeKeyCompromise))
		b.End()
	}); err != nil {
		t.Fatal(err)
	}
	if got := validate(t, c, byID(id)); got != kmip.ValidityIndicatorInvalid {
		t.Errorf("compromised certificate: %s", got)
	}
	// Errors: nothing to validate; another's certificate; not a certificate.
	_, err = do(t, c, kmip.OperationValidate, func(*ttlv.Builder) {})
	wantReason(t, err, kmip.ResultReasonInvalidField)
	bob := e.srv.Dial(t, "bob", kmip.V2_1)
	_, err = do(t, bob, kmip.OperationValidate, byID(id))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	_, err = do(t, c, kmip.OperationValidate, byID(create(t, c, "")))
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
}

func selfSignedCA(t *testing.T, name pkix.Name) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: name, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func leafOf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
