package lifecycle

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// CertifyPolicy makes kmipd a certificate authority for Certify and
// Re-certify: the CA they sign with and what they may issue. A Service
// without one serves neither operation (and Query does not list them).
type CertifyPolicy struct {
	CACert *x509.Certificate
	CAKey  crypto.Signer
	// Certifiers are the identities that may certify; empty: the admins.
	// A certifier that is not an admin may certify only for itself: the
	// subject CN must be its identity, and the request's subject
	// alternative names are not copied.
	Certifiers []string
	// KeyUsage holds the key usages an issued certificate may carry; a
	// request for others is refused with Permission Denied.
	KeyUsage x509.KeyUsage
	// ExtKeyUsage is put into every issued certificate.
	ExtKeyUsage []x509.ExtKeyUsage
	// MaxLifetime bounds an issued certificate's validity, and is the
	// validity of one whose request names no Deactivation Date.
	MaxLifetime time.Duration
}

// certSkew is how far an issued certificate's NotBefore lies before its
// Activation Date, for clients whose clocks are slightly behind.
const certSkew = 5 * time.Minute

// mayCertify reports whether the caller may certify, and whether it is
// held to certifying only for itself.
func (s *Service) mayCertify(c *kmip.Call) (selfOnly bool, err error) {
	name := c.Identity.Name
	p := s.cfg.Certify
	switch {
	case len(p.Certifiers) == 0 && s.globalAdmin(name):
		return false, nil
	case len(p.Certifiers) > 0 && slices.Contains(p.Certifiers, name):
		return !s.globalAdmin(name), nil
	}
	return false, kmip.Errorf(kmip.ResultReasonPermissionDenied, "identity %q may not certify (certify policy)", name)
}

// certTemplate is what an issued certificate says, gathered from the
// request, the object certified and the policy.
type certTemplate struct {
	pub     crypto.PublicKey
	subject pkix.Name
	dns     []string
	ips     []net.IP
	emails  []string
	uris    []*url.URL
	usage   x509.KeyUsage
}

// fromCSR reads a PKCS#10 request (DER; with Certificate Request Type PEM,
// a PEM CERTIFICATE REQUEST): its public key, subject and subject
// alternative names. Its signature must verify.
func fromCSR(typ kmip.CertificateRequestType, der []byte) (*certTemplate, error) {
	switch typ {
	case kmip.CertificateRequestTypePKCS_10:
	case kmip.CertificateRequestTypePEM:
		blk, _ := pem.Decode(der)
		if blk == nil || blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Certificate Request Value: no PEM CERTIFICATE REQUEST")
		}
		der = blk.Bytes
	default:
		return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Certificate Request Type %s is not supported: kmipd certifies PKCS#10 requests (DER or PEM)", kmip.SpecName(typ.String()))
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Certificate Request Value: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Certificate Request Value: %v", err)
	}
	return &certTemplate{pub: csr.PublicKey, subject: issuable(csr.Subject), dns: csr.DNSNames, ips: csr.IPAddresses, emails: csr.EmailAddresses, uris: csr.URIs}, nil
}

// subjectFromAttrs applies the Certificate Subject attributes of a request
// to t's subject: each component given replaces the request's.
func (t *certTemplate) subjectFromAttrs(attrs []objects.Attribute) {
	given := map[ttlv.Tag][]string{}
	for _, a := range attrs {
		if it, ok := a.Item(); ok && it.Type == ttlv.TypeTextString {
			given[a.Tag] = append(given[a.Tag], string(it.Data))
		}
	}
	n := &t.subject
	fields := map[ttlv.Tag]*[]string{
		ttlv.TagCertificateSubjectO:  &n.Organization,
		ttlv.TagCertificateSubjectOU: &n.OrganizationalUnit,
		ttlv.TagCertificateSubjectC:  &n.Country,
		ttlv.TagCertificateSubjectST: &n.Province,
		ttlv.TagCertificateSubjectL:  &n.Locality,
	}
	for _, d := range dnAttrs {
		v, ok := given[d.subject]
		switch {
		case !ok:
		case d.subject == ttlv.TagCertificateSubjectCN:
			n.CommonName = v[0]
		case d.subject == ttlv.TagCertificateSubjectSerialNumber:
			n.SerialNumber = v[0]
		case fields[d.subject] != nil:
			*fields[d.subject] = v
		default:
			n.ExtraNames = slices.DeleteFunc(n.ExtraNames, func(a pkix.AttributeTypeAndValue) bool { return a.Type.Equal(d.oid) })
			for _, s := range v {
				n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: d.oid, Value: s})
			}
		}
	}
}

// nameFields are the attribute types pkix.Name has fields for (the others
// of a parsed name are only in Names, which a new certificate ignores).
var nameFields = []asn1.ObjectIdentifier{
	{2, 5, 4, 3}, {2, 5, 4, 5}, {2, 5, 4, 6}, {2, 5, 4, 7}, {2, 5, 4, 8}, {2, 5, 4, 9}, {2, 5, 4, 10}, {2, 5, 4, 11}, {2, 5, 4, 17},
}

// issuable returns a parsed name (of a request or certificate) as a name
// to issue: the components pkix.Name has no field for (e-mail address,
// UID, DC, ...) move to ExtraNames, so that the certificate keeps them.
func issuable(n pkix.Name) pkix.Name {
	for _, a := range n.Names {
		if !slices.ContainsFunc(nameFields, a.Type.Equal) {
			n.ExtraNames = append(n.ExtraNames, a)
		}
	}
	n.Names = nil
	return n
}

// checkIssuer refuses Certificate Issuer attributes that do not name the
// CA: kmipd issues only as its CA.
func (s *Service) checkIssuer(attrs []objects.Attribute) error {
	ca := s.cfg.Certify.CACert.Subject
	for _, a := range attrs {
		it, ok := a.Item()
		if !ok || it.Type != ttlv.TypeTextString {
			continue
		}
		v := string(it.Data)
		var okv bool
		switch a.Tag {
		case ttlv.TagCertificateIssuerCN:
			okv = v == ca.CommonName
		case ttlv.TagCertificateIssuerO:
			okv = slices.Contains(ca.Organization, v)
		case ttlv.TagCertificateIssuerOU:
			okv = slices.Contains(ca.OrganizationalUnit, v)
		case ttlv.TagCertificateIssuerC:
			okv = slices.Contains(ca.Country, v)
		default:
			continue
		}
		if !okv {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "%s %q does not name kmipd's certificate authority (%s)", a.Tag, v, ca)
		}
	}
	return nil
}

// usageBits maps a Cryptographic Usage Mask onto X.509 key usages (RFC
// 5280 §4.2.1.3).
var usageBits = []struct {
	mask kmip.CryptographicUsageMask
	ku   x509.KeyUsage
}{
	{kmip.CryptographicUsageMaskSign, x509.KeyUsageDigitalSignature},
	{kmip.CryptographicUsageMaskVerify, x509.KeyUsageDigitalSignature},
	{kmip.CryptographicUsageMaskEncrypt, x509.KeyUsageDataEncipherment},
	{kmip.CryptographicUsageMaskDecrypt, x509.KeyUsageDataEncipherment},
	{kmip.CryptographicUsageMaskWrapKey, x509.KeyUsageKeyEncipherment},
	{kmip.CryptographicUsageMaskUnwrapKey, x509.KeyUsageKeyEncipherment},
	{kmip.CryptographicUsageMaskKeyAgreement, x509.KeyUsageKeyAgreement},
	{kmip.CryptographicUsageMaskContentCommitment, x509.KeyUsageContentCommitment},
	{kmip.CryptographicUsageMaskCertificateSign, x509.KeyUsageCertSign},
	{kmip.CryptographicUsageMaskCRLSign, x509.KeyUsageCRLSign},
}

// keyUsage returns the key usages of a certificate whose object has the
// Cryptographic Usage Mask mask (when has): those it maps onto, which the
// policy must allow; without a mask, Digital Signature (and Key
// Encipherment for an RSA key) as far as the policy allows.
func (s *Service) keyUsage(mask int32, has bool, pub crypto.PublicKey) (x509.KeyUsage, error) {
	allowed := s.cfg.Certify.KeyUsage
	if !has {
		ku := x509.KeyUsageDigitalSignature
		if _, ok := pub.(*rsa.PublicKey); ok {
			ku |= x509.KeyUsageKeyEncipherment
		}
		return ku & allowed, nil
	}
	var ku x509.KeyUsage
	for _, u := range usageBits {
		if uint32(mask)&uint32(u.mask) != 0 {
			ku |= u.ku
		}
	}
	if ku&^allowed != 0 {
		return 0, kmip.Errorf(kmip.ResultReasonPermissionDenied, "the Cryptographic Usage Mask asks for key usages the certify policy does not allow")
	}
	return ku, nil
}

// validity returns an issued certificate's validity from the Activation
// and Deactivation Dates o has from the request (Activation: now, or the
// later date given; Deactivation: Activation + the policy's maximum
// lifetime, which a given date may not exceed). It stays within the CA's.
func (s *Service) validity(c *kmip.Call, o *objects.Object) (notBefore, notAfter time.Time, err error) {
	p := s.cfg.Certify
	now := time.Unix(now(c), 0)
	notBefore = now
	if d, ok := o.Date(ttlv.TagActivationDate); ok && time.Unix(d, 0).After(now) {
		notBefore = time.Unix(d, 0)
	}
	notAfter = notBefore.Add(p.MaxLifetime)
	if d, ok := o.Date(ttlv.TagDeactivationDate); ok {
		notAfter = time.Unix(d, 0)
		if !notAfter.After(notBefore) {
			return notBefore, notAfter, kmip.Errorf(kmip.ResultReasonInvalidField, "Deactivation Date is not after the certificate's Activation Date")
		}
		if notAfter.Sub(now) > p.MaxLifetime {
			return notBefore, notAfter, kmip.Errorf(kmip.ResultReasonPermissionDenied, "the certificate would be valid longer than the certify policy's maximum lifetime (%s)", p.MaxLifetime)
		}
	}
	if ca := p.CACert.NotAfter; notAfter.After(ca) {
		notAfter = ca
	}
	if !notAfter.After(notBefore) {
		return notBefore, notAfter, kmip.Errorf(kmip.ResultReasonInvalidField, "the certificate authority expires before the certificate would start")
	}
	return notBefore, notAfter, nil
}

// issue signs t as an X.509 certificate valid from notBefore to notAfter.
func (s *Service) issue(t *certTemplate, notBefore, notAfter time.Time) ([]byte, error) {
	p := s.cfg.Certify
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               t.subject,
		NotBefore:             notBefore.Add(-certSkew),
		NotAfter:              notAfter,
		KeyUsage:              t.usage,
		ExtKeyUsage:           p.ExtKeyUsage,
		BasicConstraintsValid: true,
		DNSNames:              t.dns,
		IPAddresses:           t.ips,
		EmailAddresses:        t.emails,
		URIs:                  t.uris,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CACert, t.pub, p.CAKey)
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonCryptographicFailure, "issuing the certificate: %v", err)
	}
	return der, nil
}

// saveCertificate stores der as a new Certificate object o (o holds the
// request's attributes): the attributes derived from it, Activation and
// Deactivation Dates matching its validity, and the server's attributes.
func (s *Service) saveCertificate(tx *store.Tx, c *kmip.Call, o *objects.Object, der []byte, notBefore, notAfter time.Time) error {
	derived, err := certAttributes(kmip.CertificateTypeX_509, der)
	if err != nil {
		return err
	}
	for _, a := range derived {
		o.Remove(a.Tag)
	}
	for _, a := range derived {
		o.Add(a)
	}
	o.SetDate(ttlv.TagActivationDate, notBefore.Unix())
	o.SetDate(ttlv.TagDeactivationDate, notAfter.Unix())
	if _, ok := o.Int(ttlv.TagCryptographicUsageMask); !ok {
		o.SetInt(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskVerify))
	}
	blob, err := s.cfg.Backend.Seal(c.Context(), o.ID, der)
	if err != nil {
		return err
	}
	o.Blob, o.DataType = blob, uint32(kmip.CertificateTypeX_509)
	initServerAttrs(c, o, der, kmip.KeyFormatTypeRaw)
	s.setStorageMask(o)
	return s.saveNew(tx, c, o)
}
