package lifecycle

// PKCS#12 (KMIP 2.0 §6.1.19 Get, §6.1.40 Register; KMIP 1.4 §3.55 PKCS#12
// Friendly Name, §3.35 Link types PKCS#12 Certificate/Password Link).
//
// A private key is returned as PKCS#12 when the Get asks for Key Format
// Type PKCS_12: the PFX holds the key and the certificate chain reached by
// following PKCS#12 Certificate Links from the key (key → end-entity
// certificate → intermediate → ... → root), encrypted under the password
// held by the Secret Data the key's PKCS#12 Password Link names
// (TC-PKCS12-1). Registering a Private Key in PKCS_12 format decodes the
// PFX with that password and stores the key (as PKCS#8) and each
// certificate as their own objects, linked the same way (TC-PKCS12-2).
//
// The PFX itself is made and read by internal/pkcs12, whose salts and IVs
// are random: the output differs on every Get.

import (
	"crypto/x509"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/internal/pkcs12"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// maxPKCS12Chain bounds the certificate chain followed through PKCS#12
// Certificate Links.
const maxPKCS12Chain = 16

// linkedID returns the Linked Object Identifier of o's first Link of type
// typ, or "".
func linkedID(o *objects.Object, typ kmip.LinkType) string {
	for _, a := range o.All(ttlv.TagLink) {
		it, ok := a.Item()
		if !ok {
			continue
		}
		lt, ok := it.Children().Find(ttlv.TagLinkType)
		if !ok || kmip.LinkType(lt.Uint32()) != typ {
			continue
		}
		if id, ok := it.Children().Find(ttlv.TagLinkedObjectIdentifier); ok && id.Type == ttlv.TypeTextString {
			return string(id.Data)
		}
	}
	return ""
}

// openLinked looks up the object id names and opens its material (a new
// slice: clear it after use when it is secret).
func (s *Service) openLinked(c *kmip.Call, id string) (*objects.Object, []byte, error) {
	o, err := s.lookup(c, kmip.UniqueID{Text: []byte(id), Kind: kmip.UniqueIDText})
	if err != nil {
		return nil, nil, err
	}
	if o.Blob == nil {
		return nil, nil, kmip.Errorf(kmip.ResultReasonKeyValueNotPresent, "object %q has no value", id)
	}
	material, err := s.cfg.Backend.Open(c.Context(), o.ID, o.Blob, nil)
	if err != nil {
		return nil, nil, err
	}
	return o, material, nil
}

// pkcs12Password returns the password of the PKCS#12 Password Link of the
// object whose attributes are in o. The password must be an Active Secret
// Data object: otherwise the operation fails with Wrong Key Lifecycle State
// (KMIP 2.x; TC-PKCS12-2-20 step 1) or Permission Denied (KMIP 1.x;
// TC-PKCS12-2-14 step 1).
func (s *Service) pkcs12Password(c *kmip.Call, o *objects.Object) (string, error) {
	id := linkedID(o, kmip.LinkTypePKCS_12PasswordLink)
	if id == "" {
		return "", kmip.Errorf(kmip.ResultReasonInvalidField, "PKCS#12 needs a PKCS#12 Password Link to a Secret Data password")
	}
	p, err := s.lookup(c, kmip.UniqueID{Text: []byte(id), Kind: kmip.UniqueIDText})
	if err != nil {
		return "", err
	}
	if p.Type != kmip.ObjectTypeSecretData {
		return "", kmip.Errorf(kmip.ResultReasonInvalidObjectType, "PKCS#12 password %q is a %s, not Secret Data", id, p.Type)
	}
	if st := p.State(); st != kmip.StateActive {
		reason := kmip.ResultReasonWrongKeyLifecycleState
		if !c.Version.V2() {
			reason = kmip.ResultReasonPermissionDenied
		}
		return "", kmip.Errorf(reason, "PKCS#12 password %q is %s, not Active", id, st)
	}
	_, material, err := s.openLinked(c, id)
	if err != nil {
		return "", err
	}
	defer clear(material)
	return string(material), nil
}

// pkcs12Chain returns the certificates reached from o through PKCS#12
// Certificate Links, end-entity first.
func (s *Service) pkcs12Chain(c *kmip.Call, o *objects.Object) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	seen := map[string]bool{o.ID: true}
	for cur := o; ; {
		id := linkedID(cur, kmip.LinkTypePKCS_12CertificateLink)
		if id == "" || seen[id] {
			return chain, nil
		}
		if len(chain) == maxPKCS12Chain {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "PKCS#12 certificate chain longer than %d", maxPKCS12Chain)
		}
		seen[id] = true
		co, der, err := s.openLinked(c, id)
		if err != nil {
			return nil, err
		}
		if co.Type != kmip.ObjectTypeCertificate || kmip.CertificateType(co.DataType) != kmip.CertificateTypeX_509 {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "PKCS#12 Certificate Link %q is not an X.509 certificate", id)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "certificate %q: %v", id, err)
		}
		chain = append(chain, cert)
		cur = co
	}
}

// encodePKCS12 returns private key o, whose PKCS#8 material is given, as a
// PKCS#12 PFX with its certificate chain under its linked password.
func (s *Service) encodePKCS12(c *kmip.Call, o *objects.Object, material []byte) ([]byte, error) {
	if o.Type != kmip.ObjectTypePrivateKey || o.KeyFormat != kmip.KeyFormatTypePKCS_8 {
		return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "only private keys can be returned as PKCS#12")
	}
	password, err := s.pkcs12Password(c, o)
	if err != nil {
		return nil, err
	}
	chain, err := s.pkcs12Chain(c, o)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "a PKCS#12 needs the key's certificate (PKCS#12 Certificate Link)")
	}
	return pkcs12.Encode(material, chain, password)
}

// writePKCS12 writes the Get response for a private key returned as
// PKCS#12: the Key Block has the Key Format Type and the PFX as Key
// Material (KMIP 1.x: as a Byte String Key Value, TC-PKCS12-1-14), without
// Cryptographic Algorithm or Length, as the vectors show.
func writePKCS12(c *kmip.Call, w *ttlv.Builder, o *objects.Object, pfx []byte) {
	w.AddEnum(ttlv.TagObjectType, uint32(o.Type))
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	w.Begin(ttlv.TagPrivateKey)
	w.Begin(ttlv.TagKeyBlock)
	w.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_12))
	if c.Version.V2() {
		w.Begin(ttlv.TagKeyValue)
		w.AddBytes(ttlv.TagKeyMaterial, pfx)
		w.End()
	} else {
		w.AddBytes(ttlv.TagKeyValue, pfx)
	}
	w.End()
	w.End()
}

// registerPKCS12 registers a Private Key given as a PKCS#12 PFX: the key
// becomes a PKCS#8 Private Key carrying the request's attributes, and each
// certificate of the PFX a Certificate object with the PKCS#12 Friendly
// Name, linked key → end-entity → CA certificates by PKCS#12 Certificate
// Links. The certificates are not Fresh and their X.509 Certificate
// Identifier carries the serial number's content octets, as
// TC-PKCS12-2 step 8 shows.
func (s *Service) registerPKCS12(c *kmip.Call, w *ttlv.Builder, attrs kmip.AttrList, pfx []byte) error {
	probe := s.newOwned(c, "", kmip.ObjectTypePrivateKey)
	if err := applyRequestAttrs(probe, attrs); err != nil {
		return err
	}
	password, err := s.pkcs12Password(c, probe)
	if err != nil {
		return err
	}
	der, certs, err := pkcs12.Decode(pfx, password)
	if err != nil {
		return err
	}
	defer clear(der)
	k, err := keyform.Parse(der, true)
	if err != nil {
		return err
	}
	friendly, hasFriendly := probe.Text(ttlv.TagPKCS_12FriendlyName)

	var id string
	err = s.update(c, func(tx *store.Tx) error {
		var err error
		if id, err = tx.NewID(); err != nil {
			return err
		}
		certIDs := make([]string, len(certs))
		for i := range certs {
			if certIDs[i], err = tx.NewID(); err != nil {
				return err
			}
		}
		o := s.newOwned(c, id, kmip.ObjectTypePrivateKey)
		if err := applyRequestAttrs(o, attrs); err != nil {
			return err
		}
		if alg, ok := o.Enum(ttlv.TagCryptographicAlgorithm); ok && !sameFamily(kmip.CryptographicAlgorithm(alg), k.Alg) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Cryptographic Algorithm %s does not match the %s key", kmip.CryptographicAlgorithm(alg), k.Alg)
		} else if !ok {
			o.SetEnum(ttlv.TagCryptographicAlgorithm, uint32(k.Alg))
		}
		if _, ok := o.Int(ttlv.TagCryptographicLength); !ok {
			o.SetInt(ttlv.TagCryptographicLength, k.Bits)
		}
		if len(certIDs) > 0 {
			o.Add(objects.LinkAttr(kmip.LinkTypePKCS_12CertificateLink, certIDs[0]))
		}
		blob, err := s.cfg.Backend.Seal(c.Context(), id, k.DER)
		if err != nil {
			return err
		}
		o.Blob, o.KeyFormat = blob, kmip.KeyFormatTypePKCS_8
		initServerAttrs(c, o, k.DER, kmip.KeyFormatTypePKCS_8)
		s.setStorageMask(o)
		if err := s.saveNew(tx, c, o); err != nil {
			return err
		}
		for i, cert := range certs {
			co, err := s.pkcs12Certificate(c, certIDs[i], cert.Raw)
			if err != nil {
				return err
			}
			if hasFriendly {
				co.SetText(ttlv.TagPKCS_12FriendlyName, friendly)
			}
			if i+1 < len(certIDs) {
				co.Add(objects.LinkAttr(kmip.LinkTypePKCS_12CertificateLink, certIDs[i+1]))
			}
			if err := s.saveNew(tx, c, co); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}

// pkcs12Certificate builds the Certificate object of a certificate taken
// from a PKCS#12 PFX. Its Digest is of the certificate's DER and has no Key
// Format Type (KMIP 2.0 §4.14 requires one only for keys and Secret Data;
// TC-PKCS12-2 step 8).
func (s *Service) pkcs12Certificate(c *kmip.Call, id string, der []byte) (*objects.Object, error) {
	derived, err := certAttributes(kmip.CertificateTypeX_509, der)
	if err != nil {
		return nil, err
	}
	co := s.newOwned(c, id, kmip.ObjectTypeCertificate)
	for _, a := range derived {
		if a.Tag == ttlv.TagX_509CertificateIdentifier {
			a = contentSerialID(a)
		}
		co.Add(a)
	}
	blob, err := s.cfg.Backend.Seal(c.Context(), id, der)
	if err != nil {
		return nil, err
	}
	co.Blob, co.DataType = blob, uint32(kmip.CertificateTypeX_509)
	initServerAttrs(c, co, nil, 0)
	co.SetBool(ttlv.TagKeyValuePresent, true)
	co.Set(objects.Digest(der, 0))
	co.SetBool(ttlv.TagFresh, false)
	s.setStorageMask(co)
	return co, nil
}

// contentSerialID rewrites an X.509 Certificate Identifier so that its
// Certificate Serial Number holds the INTEGER's content octets rather than
// its whole DER encoding.
func contentSerialID(a objects.Attribute) objects.Attribute {
	it, ok := a.Item()
	if !ok {
		return a
	}
	body := it.Children()
	var issuer, serial []byte
	if !body.ReadBytes(ttlv.TagIssuerDistinguishedName, &issuer) || !body.ReadBytes(ttlv.TagCertificateSerialNumber, &serial) {
		return a
	}
	return structAttr(ttlv.TagX_509CertificateIdentifier, func(b *ttlv.Builder) {
		b.AddBytes(ttlv.TagIssuerDistinguishedName, issuer)
		b.AddBytes(ttlv.TagCertificateSerialNumber, serialContent(serial))
	})
}

// serialContent returns the content octets of serial when it is one whole
// DER INTEGER (tag 02, a definite length covering the rest), else serial.
// Certificate Serial Numbers appear in both forms (TC-CERTATTR and
// TC-PKCS12-2 give the DER encoding, TC-PKCS12-2 step 8 the content).
func serialContent(serial []byte) []byte {
	if len(serial) < 3 || serial[0] != 0x02 {
		return serial
	}
	n, hdr := int(serial[1]), 2
	if serial[1]&0x80 != 0 {
		k := int(serial[1] & 0x7f)
		if k == 0 || k > 3 || len(serial) < 2+k {
			return serial
		}
		n = 0
		for _, b := range serial[2 : 2+k] {
			n = n<<8 | int(b)
		}
		hdr = 2 + k
	}
	if n == 0 || hdr+n != len(serial) {
		return serial
	}
	return serial[hdr:]
}
