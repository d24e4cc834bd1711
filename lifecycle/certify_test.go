package lifecycle_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// certEnv is a service that certifies with the CA of its own test PKI,
// whose server accepts the certificates it issues.
type certEnv struct {
	*env
	pki *kmiptest.PKI
	ca  *x509.Certificate
}

func newCertEnv(t *testing.T, adjust func(p *lifecycle.CertifyPolicy)) *certEnv {
	t.Helper()
	p := kmiptest.MustPKI(t, "admin", "alice", "bob")
	caCert, caKey, err := pki.LoadCA(p.Bundle.CACert, p.Bundle.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	policy := &lifecycle.CertifyPolicy{
		CACert: caCert, CAKey: caKey,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		MaxLifetime: 30 * 24 * time.Hour,
	}
	if adjust != nil {
		adjust(policy)
	}
	le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.Certify, c.TrustRoots = policy, p.Pool
	}})
	return &certEnv{env: &env{srv: kmiptest.Start(t, p, le.Service), db: le.Store, dir: le.Dir}, pki: p, ca: caCert}
}

// newCSR returns a fresh P-256 key and a PKCS#10 request for cn.
func newCSR(t *testing.T, cn string, dns ...string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// csrPayload writes a Certify request for a PKCS#10 request in the form of
// ver, with the attributes attrs writes (2.x: inside Attributes; 1.x:
// Template-Attribute).
func csrPayload(ver kmip.Version, csr []byte, attrs func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		if ver.V2() {
			if attrs != nil {
				b.Begin(ttlv.TagAttributes)
				attrs(b)
				b.End()
			}
			b.AddEnum(ttlv.TagCertificateRequestType, uint32(kmip.CertificateRequestTypePKCS_10))
			b.AddBytes(ttlv.TagCertificateRequestValue, csr)
			return
		}
		b.AddEnum(ttlv.TagCertificateRequestType, uint32(kmip.CertificateRequestTypePKCS_10))
		b.AddBytes(ttlv.TagCertificateRequest, csr)
		if attrs != nil {
			b.Begin(ttlv.TagTemplateAttribute)
			attrs(b)
			b.End()
		}
	}
}

func idOf(t *testing.T, it *kmip.ResponseItem) string {
	t.Helper()
	var id []byte
	p := it.Payload
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) || !p.Empty() {
		t.Fatalf("response payload %s", ttlv.Format(it.Payload))
	}
	return string(id)
}

// issuedCert returns the X.509 certificate of a Certificate object.
func issuedCert(t *testing.T, c *kmip.Client, id string) *x509.Certificate {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, byID(id))
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	obj, ok := it.Payload.Find(ttlv.TagCertificate)
	if !ok {
		t.Fatalf("Get: no Certificate in %s", ttlv.Format(it.Payload))
	}
	v, _ := obj.Children().Find(ttlv.TagCertificateValue)
	cert, err := x509.ParseCertificate(v.Data)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// whoAmI connects with cert and key and returns the identity the server
// gives it.
func certWhoAmI(t *testing.T, e *certEnv, certDER []byte, key any) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{certDER}, PrivateKey: key}}, RootCAs: e.pki.Pool, ServerName: "127.0.0.1"}
	c, err := kmip.Dial(e.srv.Addr, cfg)
	if err != nil {
		t.Fatalf("dial with the issued certificate: %v", err)
	}
	defer c.Close()
	c.Version = kmip.V2_1
	it, err := do(t, c, lifecycle.OperationWhoAmI, nil)
	if err != nil {
		t.Fatal(err)
	}
	var name []byte
	p := it.Payload
	p.ReadText(lifecycle.TagWhoAmIIdentity, &name)
	return string(name)
}

// Certify turns a PKCS#10 request into a certificate of the CA, at 1.4 and
// 2.1: subject and names from the request, the policy's extended key
// usage, a Certificate object of the caller whose attributes describe it;
// the certificate connects and gets the identity of its CN.
func TestCertify_CSR(t *testing.T) {
	e := newCertEnv(t, nil)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
		c := e.srv.Dial(t, "admin", ver)
		cn := "svc-" + ver.String()
		key, csr := newCSR(t, cn, "svc.example")
		it, err := do(t, c, kmip.OperationCertify, csrPayload(ver, csr, nil))
		if err != nil {
			t.Fatalf("%s: Certify: %v", ver, err)
		}
		id := idOf(t, it)
		cert := issuedCert(t, c, id)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: e.pki.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: issued certificate does not verify: %v", ver, err)
		}
		if cert.Subject.CommonName != cn || len(cert.DNSNames) != 1 || cert.DNSNames[0] != "svc.example" || !key.PublicKey.Equal(cert.PublicKey) {
			t.Errorf("%s: subject %s names %v", ver, cert.Subject, cert.DNSNames)
		}
		if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Errorf("%s: IsCA %v key usage %v", ver, cert.IsCA, cert.KeyUsage)
		}
		if life := cert.NotAfter.Sub(cert.NotBefore); life > 30*24*time.Hour+10*time.Minute || life < 30*24*time.Hour {
			t.Errorf("%s: lifetime %s, want the policy's 30 days", ver, life)
		}
		a := attrsOf(t, c, id)
		if a[ttlv.TagObjectType].Uint32() != uint32(kmip.ObjectTypeCertificate) || a[ttlv.TagState].Uint32() != uint32(kmip.StateActive) {
			t.Errorf("%s: object type %d state %d", ver, a[ttlv.TagObjectType].Uint32(), a[ttlv.TagState].Uint32())
		}
		if ct, ok := a[ttlv.TagCertificateType]; !ok || ct.Uint32() != uint32(kmip.CertificateTypeX_509) {
			t.Errorf("%s: Certificate Type %v", ver, ct)
		}
		if got := certWhoAmI(t, e, cert.Raw, key); got != cn {
			t.Errorf("%s: issued certificate connects as %q, want %q", ver, got, cn)
		}
	}
	// A PEM request (Certificate Request Type PEM); CRMF is not supported.
	c := e.srv.Dial(t, "admin", kmip.V2_1)
	_, csr := newCSR(t, "pem")
	pemCSR := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})
	it, err := do(t, c, kmip.OperationCertify, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagCertificateRequestType, uint32(kmip.CertificateRequestTypePEM))
		b.AddBytes(ttlv.TagCertificateRequestValue, pemCSR)
	})
	if err != nil {
		t.Fatalf("PEM request: %v", err)
	}
	if cn := issuedCert(t, c, idOf(t, it)).Subject.CommonName; cn != "pem" {
		t.Errorf("PEM request: CN %q", cn)
	}
	_, err = do(t, c, kmip.OperationCertify, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagCertificateRequestType, uint32(kmip.CertificateRequestTypeCRMF))
		b.AddBytes(ttlv.TagCertificateRequestValue, csr)
	})
	wantReason(t, err, kmip.ResultReasonFeatureNotSupported)
}

// Certify of a managed public key: the subject CN is the caller's (or the
// Certificate Subject CN given), and the key and certificate link to each
// other.
func TestCertify_PublicKey(t *testing.T) {
	e := newCertEnv(t, nil)
	c := e.srv.Dial(t, "admin", kmip.V2_1)
	_, pub, err := kpCreate(t, c, []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)), kpInt(ttlv.TagCryptographicLength, 256)},
		[]kpAttr{kpMask(kmip.CryptographicUsageMaskSign)}, []kpAttr{kpMask(kmip.CryptographicUsageMaskVerify)})
	if err != nil {
		t.Fatal(err)
	}
	it, err := do(t, c, kmip.OperationCertify, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, pub)
		b.Begin(ttlv.TagAttributes)
		b.AddText(ttlv.TagCertificateSubjectCN, "device-7")
		b.AddText(ttlv.TagCertificateSubjectO, "Example")
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskVerify|kmip.CryptographicUsageMaskKeyAgreement))
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	id := idOf(t, it)
	cert := issuedCert(t, c, id)
	if cert.Subject.CommonName != "device-7" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "Example" {
		t.Errorf("subject %s", cert.Subject)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement {
		t.Errorf("key usage %v", cert.KeyUsage)
	}
	if l := kpLinks(t, c, id); l[kmip.LinkTypePublicKeyLink] != pub {
		t.Errorf("certificate links %v, want Public Key Link %s", l, pub)
	}
	if l := kpLinks(t, c, pub); l[kmip.LinkTypeCertificateLink] != id {
		t.Errorf("public key links %v, want Certificate Link %s", l, id)
	}
	// Without a subject: CN = the caller.
	it, err = do(t, c, kmip.OperationCertify, byID(pub))
	if err != nil {
		t.Fatal(err)
	}
	if cn := issuedCert(t, c, idOf(t, it)).Subject.CommonName; cn != "admin" {
		t.Errorf("default subject CN %q, want admin", cn)
	}
	// A symmetric key is not certified.
	_, err = do(t, c, kmip.OperationCertify, byID(create(t, c, "")))
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
}

// The policy: only admins certify by default; a listed non-admin certifier
// certifies only its own name; key usages and lifetime stay within the
// policy; Issuer attributes must name the CA.
func TestCertify_Policy(t *testing.T) {
	e := newCertEnv(t, func(p *lifecycle.CertifyPolicy) { p.Certifiers = []string{"admin", "alice"} })
	alice := e.srv.Dial(t, "alice", kmip.V2_1)
	bob := e.srv.Dial(t, "bob", kmip.V2_1)
	admin := e.srv.Dial(t, "admin", kmip.V2_1)

	_, csr := newCSR(t, "bob")
	_, err := do(t, bob, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, nil))
	wantReason(t, err, kmip.ResultReasonPermissionDenied)

	_, csr = newCSR(t, "admin")
	_, err = do(t, alice, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, nil))
	wantReason(t, err, kmip.ResultReasonPermissionDenied)

	key, csr := newCSR(t, "alice", "not-copied.example")
	it, err := do(t, alice, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, nil))
	if err != nil {
		t.Fatal(err)
	}
	cert := issuedCert(t, alice, idOf(t, it))
	if len(cert.DNSNames) != 0 {
		t.Errorf("a self-only certifier's names were copied: %v", cert.DNSNames)
	}
	if got := certWhoAmI(t, e, cert.Raw, key); got != "alice" {
		t.Errorf("connects as %q", got)
	}

	_, csr = newCSR(t, "x")
	_, err = do(t, admin, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskCertificateSign))
	}))
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
	_, err = do(t, admin, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagDeactivationDate, time.Now().Add(60*24*time.Hour).Unix())
	}))
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
	_, err = do(t, admin, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagCertificateIssuerCN, "someone else")
	}))
	wantReason(t, err, kmip.ResultReasonInvalidField)
	bad := append([]byte{}, csr...)
	bad[len(bad)-3] ^= 1 // the signature
	_, err = do(t, admin, kmip.OperationCertify, csrPayload(kmip.V2_1, bad, nil))
	wantReason(t, err, kmip.ResultReasonInvalidField)

	// A requested Deactivation Date within the limit is the NotAfter.
	until := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	it, err = do(t, admin, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagDeactivationDate, until.Unix())
	}))
	if err != nil {
		t.Fatal(err)
	}
	if na := issuedCert(t, admin, idOf(t, it)).NotAfter; !na.Equal(until) {
		t.Errorf("NotAfter %s, want %s", na, until)
	}
}

// Re-certify issues a new certificate for the same key and subject with a
// new validity; the two link to each other and the Names move.
func TestReCertify(t *testing.T) {
	e := newCertEnv(t, nil)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
		c := e.srv.Dial(t, "admin", ver)
		key, csr := newCSR(t, "renew-"+ver.String())
		it, err := do(t, c, kmip.OperationCertify, csrPayload(ver, csr, nil))
		if err != nil {
			t.Fatal(err)
		}
		old := idOf(t, it)
		oldCert := issuedCert(t, c, old)
		it, err = do(t, c, kmip.OperationReCertify, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, old)
			b.AddInterval(ttlv.TagOffset, 3600)
		})
		if err != nil {
			t.Fatalf("%s: Re-certify: %v", ver, err)
		}
		nid := idOf(t, it)
		nc := issuedCert(t, c, nid)
		if nc.Subject.CommonName != oldCert.Subject.CommonName || !key.PublicKey.Equal(nc.PublicKey) || nc.SerialNumber.Cmp(oldCert.SerialNumber) == 0 {
			t.Errorf("%s: renewed %s serial %s", ver, nc.Subject, nc.SerialNumber)
		}
		if d := nc.NotBefore.Sub(oldCert.NotBefore); d < 55*time.Minute || d > 65*time.Minute {
			t.Errorf("%s: NotBefore moved by %s, want the 1h Offset", ver, d)
		}
		if l := kpLinks(t, c, nid); l[kmip.LinkTypeReplacedObjectLink] != old {
			t.Errorf("%s: new links %v", ver, l)
		}
		if l := kpLinks(t, c, old); l[kmip.LinkTypeReplacementObjectLink] != nid {
			t.Errorf("%s: old links %v", ver, l)
		}
		if a := attrsOf(t, c, nid); a[ttlv.TagState].Uint32() != uint32(kmip.StatePreActive) {
			t.Errorf("%s: renewed certificate state %d, want Pre-Active until the Offset", ver, a[ttlv.TagState].Uint32())
		}
	}
	c := e.srv.Dial(t, "admin", kmip.V2_1)
	_, err := do(t, c, kmip.OperationReCertify, byID(create(t, c, "")))
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
	// A certificate another CA issued is not renewed.
	other := kmiptest.MustPKI(t, "carol")
	blk, _ := pem.Decode(other.Bundle.Clients["carol"].Cert)
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeCertificate))
		b.Begin(ttlv.TagAttributes)
		b.End()
		b.Begin(ttlv.TagCertificate)
		b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypeX_509))
		b.AddBytes(ttlv.TagCertificateValue, blk.Bytes)
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = do(t, c, kmip.OperationReCertify, byID(idOf(t, it)))
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
}

// Re-Provision of an issued certificate renews it as Re-certify does, and
// Query lists it once Certify is served.
func TestReProvision_RenewsCertificate(t *testing.T) {
	e := newCertEnv(t, nil)
	c := e.srv.Dial(t, "admin", kmip.V2_1)
	if !slices.Contains(queryOperations(t, c), kmip.OperationReProvision) {
		t.Error("Query does not list Re-Provision with Certify served")
	}
	key, csr := newCSR(t, "reprovisioned")
	it, err := do(t, c, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, nil))
	if err != nil {
		t.Fatal(err)
	}
	old := idOf(t, it)
	oldCert := issuedCert(t, c, old)
	it, err = do(t, c, kmip.OperationReProvision, byID(old))
	if err != nil {
		t.Fatalf("Re-Provision: %v", err)
	}
	nid := idOf(t, it)
	nc := issuedCert(t, c, nid)
	if nid == old || nc.Subject.CommonName != "reprovisioned" || !key.PublicKey.Equal(nc.PublicKey) || nc.SerialNumber.Cmp(oldCert.SerialNumber) == 0 {
		t.Errorf("re-provisioned %s: %s serial %s", nid, nc.Subject, nc.SerialNumber)
	}
	if l := kpLinks(t, c, old); l[kmip.LinkTypeReplacementObjectLink] != nid {
		t.Errorf("old links %v", l)
	}
	_, err = do(t, c, kmip.OperationReProvision, byID(create(t, c, "")))
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
	// 1.x has no Re-Provision.
	_, err = do(t, e.srv.Dial(t, "admin", kmip.V1_4), kmip.OperationReProvision, byID(old))
	wantReason(t, err, kmip.ResultReasonOperationNotSupported)
}

// In one batch, Create Key Pair then Certify without an identifier
// certifies the new public key (the ID Placeholder names the private key),
// and a Validate without one validates the new certificate.
func TestCertify_BatchPlaceholder(t *testing.T) {
	e := newCertEnv(t, nil)
	c := e.srv.Dial(t, "admin", kmip.V2_1)
	items := kpBatch(t, c,
		kpItem{kmip.OperationCreateKeyPair, kpPayload(c.Version,
			[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)), kpInt(ttlv.TagCryptographicLength, 256)}, nil, nil)},
		kpItem{kmip.OperationCertify, func(b *ttlv.Builder) {}},
		kpItem{kmip.OperationValidate, func(b *ttlv.Builder) {}},
	)
	for _, it := range items {
		if err := it.Err(); err != nil {
			t.Fatalf("batch: %v", err)
		}
	}
	pubID, _ := items[0].Payload.Find(ttlv.TagPublicKeyUniqueIdentifier)
	certID, _ := items[1].Payload.Find(ttlv.TagUniqueIdentifier)
	if l := kpLinks(t, c, string(certID.Data)); l[kmip.LinkTypePublicKeyLink] != string(pubID.Data) {
		t.Errorf("certificate links %v, want the public key %s", l, pubID.Data)
	}
	if v, _ := items[2].Payload.Find(ttlv.TagValidityIndicator); kmip.ValidityIndicator(v.Uint32()) != kmip.ValidityIndicatorValid {
		t.Errorf("Validate by placeholder: %s", ttlv.Format(items[2].Payload))
	}
}

// The issued subject keeps the request's components that pkix.Name has no
// field for (an e-mail address), and takes the Certificate Subject
// attributes given (OU, UID).
func TestCertify_SubjectComponents(t *testing.T) {
	e := newCertEnv(t, nil)
	c := e.srv.Dial(t, "admin", kmip.V2_1)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	uid := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName: "mailer", ExtraNames: []pkix.AttributeTypeAndValue{{Type: email, Value: "ops@example.com"}}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	it, err := do(t, c, kmip.OperationCertify, csrPayload(kmip.V2_1, csr, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagCertificateSubjectOU, "Ops")
		b.AddText(ttlv.TagCertificateSubjectUID, "u-42")
	}))
	if err != nil {
		t.Fatal(err)
	}
	cert := issuedCert(t, c, idOf(t, it))
	got := map[string]string{}
	for _, a := range cert.Subject.Names {
		got[a.Type.String()], _ = a.Value.(string)
	}
	if got[email.String()] != "ops@example.com" || got[uid.String()] != "u-42" || got["2.5.4.11"] != "Ops" || got["2.5.4.3"] != "mailer" {
		t.Errorf("subject %s: %v", cert.Subject, got)
	}
}
