package lifecycle

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// certify implements Certify (KMIP 2.0 §6.1.4; 1.4 §4.7) with kmipd as the
// certificate authority of Config.Certify. It certifies either a PKCS#10
// request (Certificate Request Type and Value) or a managed Public Key (its
// Unique Identifier, or the ID Placeholder; a placeholder naming a private
// key, as Create Key Pair leaves it, means its public key), into an X.509 certificate
// registered as a Certificate object of the caller:
//
//   - the subject is the request's, or, for a public key, CN = the caller's
//     identity; Certificate Subject attributes in the request replace its
//     components; Certificate Issuer attributes must name the CA;
//   - the key usages follow the request's Cryptographic Usage Mask, within
//     the policy's; the extended key usages are the policy's;
//   - the validity runs from the Activation Date (now, or a later date the
//     request gives) to the request's Deactivation Date, or for the
//     policy's maximum lifetime; the object's dates match it;
//   - a certified Public Key and its certificate link to each other
//     (Certificate Link, Public Key Link).
//
// Only the certifiers of the policy may certify (Permission Denied
// otherwise). The new identifier goes into the ID Placeholder.
func (s *Service) certify(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CertifyRequest
	if err := req.Decode(c.Item.Payload, c.Version, kmip.OperationCertify); err != nil {
		return err
	}
	selfOnly, err := s.mayCertify(c)
	if err != nil {
		return err
	}
	rest, given, err := s.certifyAttrs(req)
	if err != nil {
		return err
	}
	var t *certTemplate
	var pkID string
	if req.RequestValue != nil {
		if t, err = fromCSR(req.RequestType, req.RequestValue); err != nil {
			return err
		}
	} else if pkID, err = resolveID(c, req.UniqueID); err != nil {
		return err
	}
	var id string
	err = s.update(c, func(tx *store.Tx) error {
		var pk *objects.Object
		if t == nil {
			if pk, err = s.load(tx, c, pkID, true); err != nil {
				return err
			}
			// After Create Key Pair the ID Placeholder is the private key:
			// its public key is meant.
			if pub := linkedID(pk, kmip.LinkTypePublicKeyLink); pk.Type == kmip.ObjectTypePrivateKey && req.UniqueID.Kind != kmip.UniqueIDText && pub != "" {
				if pk, err = s.load(tx, c, pub, true); err != nil {
					return err
				}
			}
			pub, err := s.publicKeyOf(c, pk)
			if err != nil {
				return err
			}
			t = &certTemplate{pub: pub, subject: pkix.Name{CommonName: c.Identity.Name}}
		}
		if err := s.finishTemplate(c, t, given, selfOnly); err != nil {
			return err
		}
		if id, err = tx.NewID(); err != nil {
			return err
		}
		o := s.newOwned(c, id, kmip.ObjectTypeCertificate)
		if err := applyRequestAttrs(o, kmip.NewAttrList(rest, req.V1)); err != nil {
			return err
		}
		der, notBefore, notAfter, err := s.issueFor(c, o, t)
		if err != nil {
			return err
		}
		if pk != nil {
			if err := s.linkCertificate(tx, c, o, pk); err != nil {
				return err
			}
		}
		return s.saveCertificate(tx, c, o, der, notBefore, notAfter)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}

// reCertify implements Re-certify (KMIP 2.0 §6.1.44; 1.4 §4.8): a new
// certificate for the subject and key of an existing one that kmipd's CA
// issued, or for those of a PKCS#10 request given with it (a new key). As
// on Re-key, the replacement takes the existing certificate's attributes
// (not its dates, links, state or derived attributes) and its Names, then
// the request's; it is valid from now + Offset (or now) for the
// Deactivation Date given, or the policy's maximum lifetime. The two link
// to each other (Replaced / Replacement Object Link); the replacement
// keeps the Public Key Link of the same key, whose Certificate Link to it
// is added. The new identifier goes into the ID Placeholder.
func (s *Service) reCertify(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CertifyRequest
	if err := req.Decode(c.Item.Payload, c.Version, kmip.OperationReCertify); err != nil {
		return err
	}
	return s.renewCertificate(c, w, req)
}

// renewCertificate issues a replacement of the certificate req names:
// Re-certify, and Re-Provision of a certificate.
func (s *Service) renewCertificate(c *kmip.Call, w *ttlv.Builder, req kmip.CertifyRequest) error {
	selfOnly, err := s.mayCertify(c)
	if err != nil {
		return err
	}
	rest, given, err := s.certifyAttrs(req)
	if err != nil {
		return err
	}
	oldID, err := resolveID(c, req.UniqueID)
	if err != nil {
		return err
	}
	var t *certTemplate
	if req.RequestValue != nil {
		if t, err = fromCSR(req.RequestType, req.RequestValue); err != nil {
			return err
		}
	}
	var newID string
	err = s.update(c, func(tx *store.Tx) error {
		old, err := s.load(tx, c, oldID, true)
		if err != nil {
			return err
		}
		if old.Type != kmip.ObjectTypeCertificate {
			return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Re-certify renews certificates, not a %s", old.Type)
		}
		if err := Allowed(kmip.OperationReCertify, old.State()); err != nil {
			return err
		}
		if st := old.State(); st == kmip.StateCompromised {
			return errState(kmip.OperationReCertify, st)
		}
		oc, err := s.issuedCert(c, old)
		if err != nil {
			return err
		}
		sameKey := t == nil
		if sameKey {
			t = &certTemplate{pub: oc.PublicKey, subject: issuable(oc.Subject), dns: oc.DNSNames, ips: oc.IPAddresses, emails: oc.EmailAddresses, uris: oc.URIs}
		}
		if err := s.finishTemplate(c, t, given, selfOnly); err != nil {
			return err
		}
		if newID, err = tx.NewID(); err != nil {
			return err
		}
		nc := objects.New(newID, kmip.ObjectTypeCertificate, old.Owner)
		nc.Tenant = old.Tenant // a renewed certificate stays the old one's; its grants are not copied
		for _, a := range old.Attrs {
			if !notCopied[a.Tag] && !certDerived[a.Tag] && !certDates[a.Tag] {
				nc.Add(a)
			}
		}
		if err := applyReKeyAttrs(nc, kmip.NewAttrList(rest, req.V1)); err != nil {
			return err
		}
		if req.HasOffset {
			nc.SetDate(ttlv.TagActivationDate, now(c)+int64(req.Offset))
		}
		der, notBefore, notAfter, err := s.issueFor(c, nc, t)
		if err != nil {
			return err
		}
		nc.Add(objects.LinkAttr(kmip.LinkTypeReplacedObjectLink, old.ID))
		if pkID := linkedID(old, kmip.LinkTypePublicKeyLink); pkID != "" && sameKey {
			if pk, err := s.load(tx, c, pkID, true); err == nil {
				if err := s.linkCertificate(tx, c, nc, pk); err != nil {
					return err
				}
			} else {
				nc.Add(objects.LinkAttr(kmip.LinkTypePublicKeyLink, pkID))
			}
		}
		// The existing certificate gives up its names (saved first, so
		// that the store releases them) and points to its replacement.
		old.Remove(ttlv.TagName)
		old.Add(objects.LinkAttr(kmip.LinkTypeReplacementObjectLink, newID))
		old.SetDate(ttlv.TagLastChangeDate, now(c))
		if err := s.save(tx, old); err != nil {
			return err
		}
		return s.saveCertificate(tx, c, nc, der, notBefore, notAfter)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = newID
	w.AddText(ttlv.TagUniqueIdentifier, newID)
	return nil
}

// linkCertificate links certificate cert and public key pk to each other
// (Public Key Link, Certificate Link) and saves pk; cert is saved by the
// caller.
func (s *Service) linkCertificate(tx *store.Tx, c *kmip.Call, cert, pk *objects.Object) error {
	cert.Add(objects.LinkAttr(kmip.LinkTypePublicKeyLink, pk.ID))
	pk.Add(objects.LinkAttr(kmip.LinkTypeCertificateLink, cert.ID))
	pk.SetDate(ttlv.TagLastChangeDate, now(c))
	return s.save(tx, pk)
}

// certDates are the dates Re-certify does not copy: the replacement's
// follow from its own validity.
var certDates = map[ttlv.Tag]bool{
	ttlv.TagActivationDate:   true,
	ttlv.TagDeactivationDate: true,
	ttlv.TagProcessStartDate: true,
	ttlv.TagProtectStopDate:  true,
}

// certifyAttrs separates the request's attributes that describe the
// certificate (Certificate Type, Subject and Issuer; kmip derives the
// others from what it issues) from the rest, which go on the object.
func (s *Service) certifyAttrs(req kmip.CertifyRequest) (rest ttlv.Value, given []objects.Attribute, err error) {
	rest, given, err = splitAttrs(req.Attributes, req.V1, func(t ttlv.Tag) bool { return certDerived[t] })
	if err != nil {
		return nil, nil, err
	}
	for _, a := range given {
		if v, ok := enumOf(a); a.Tag == ttlv.TagCertificateType && (!ok || v != uint32(kmip.CertificateTypeX_509)) {
			return nil, nil, kmip.Errorf(kmip.ResultReasonInvalidField, "kmipd issues X.509 certificates only")
		}
	}
	return rest, given, s.checkIssuer(given)
}

// finishTemplate applies the request's subject attributes to t and the
// policy for a certifier that may certify only itself.
func (s *Service) finishTemplate(c *kmip.Call, t *certTemplate, given []objects.Attribute, selfOnly bool) error {
	t.subjectFromAttrs(given)
	if selfOnly {
		if t.subject.CommonName != c.Identity.Name {
			return kmip.Errorf(kmip.ResultReasonPermissionDenied, "identity %q may certify only its own name (subject CN %q)", c.Identity.Name, t.subject.CommonName)
		}
		t.dns, t.ips, t.emails, t.uris = nil, nil, nil, nil
	}
	if t.subject.CommonName == "" && len(t.subject.ToRDNSequence()) == 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "the certificate would have an empty subject")
	}
	return nil
}

// issueFor issues the certificate of object o (which holds the request's
// attributes) from t: key usages from its usage mask, validity from its
// dates.
func (s *Service) issueFor(c *kmip.Call, o *objects.Object, t *certTemplate) (der []byte, notBefore, notAfter time.Time, err error) {
	mask, has := o.Int(ttlv.TagCryptographicUsageMask)
	if t.usage, err = s.keyUsage(mask, has, t.pub); err != nil {
		return nil, notBefore, notAfter, err
	}
	if notBefore, notAfter, err = s.validity(c, o); err != nil {
		return nil, notBefore, notAfter, err
	}
	der, err = s.issue(t, notBefore, notAfter)
	return der, notBefore, notAfter, err
}

// publicKeyOf returns the key of a managed Public Key kmipd can certify.
func (s *Service) publicKeyOf(c *kmip.Call, pk *objects.Object) (crypto.PublicKey, error) {
	if pk.Type != kmip.ObjectTypePublicKey {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Certify certifies public keys, not a %s", pk.Type)
	}
	if err := Allowed(kmip.OperationCertify, pk.State()); err != nil {
		return nil, err
	}
	if pk.Blob == nil {
		return nil, errNoPlaintext(pk)
	}
	material, err := s.cfg.Backend.Open(c.Context(), pk.ID, pk.Blob, nil)
	if err != nil {
		return nil, err
	}
	if pk.KeyFormat != kmip.KeyFormatTypeX_509 {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "public key %q is kept in a form kmipd cannot read", pk.ID)
	}
	pub, err := x509.ParsePKIXPublicKey(material)
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "public key %q: %v", pk.ID, err)
	}
	return pub, nil
}

// issuedCert returns the X.509 certificate of a managed Certificate that
// kmipd's CA issued (Re-certify renews only those).
func (s *Service) issuedCert(c *kmip.Call, o *objects.Object) (*x509.Certificate, error) {
	if o.Blob == nil {
		return nil, errNoPlaintext(o)
	}
	der, err := s.cfg.Backend.Open(c.Context(), o.ID, o.Blob, nil)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "certificate %q: %v", o.ID, err)
	}
	if cert.CheckSignatureFrom(s.cfg.Certify.CACert) != nil {
		return nil, kmip.Errorf(kmip.ResultReasonPermissionDenied, "certificate %q was not issued by kmipd's certificate authority", o.ID)
	}
	return cert, nil
}
