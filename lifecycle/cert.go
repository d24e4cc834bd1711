package lifecycle

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// Certificates are stored as registered (their DER, Object.DataType the
// Certificate Type, Object.KeyFormat 0). Their attributes are derived from
// the certificate (KMIP 2.0 §4.5–§4.10 and the Certificate Attributes;
// KMIP 1.4 §3.9–§3.17): the server sets them, a client cannot.

// certDerived are the attributes kmipd derives from a certificate. A
// client that gives one on Register (as the OASIS vectors give Certificate
// Type) has it replaced by the derived value; one kmipd cannot derive is
// kept as the client gave it.
var certDerived = map[ttlv.Tag]bool{
	ttlv.TagCertificateType:                true,
	ttlv.TagCertificateLength:              true,
	ttlv.TagX_509CertificateIdentifier:     true,
	ttlv.TagX_509CertificateSubject:        true,
	ttlv.TagX_509CertificateIssuer:         true,
	ttlv.TagCertificateIdentifier:          true,
	ttlv.TagCertificateSubject:             true,
	ttlv.TagCertificateIssuer:              true,
	ttlv.TagDigitalSignatureAlgorithm:      true,
	ttlv.TagCertificateSubjectCN:           true,
	ttlv.TagCertificateSubjectO:            true,
	ttlv.TagCertificateSubjectOU:           true,
	ttlv.TagCertificateSubjectEmail:        true,
	ttlv.TagCertificateSubjectC:            true,
	ttlv.TagCertificateSubjectST:           true,
	ttlv.TagCertificateSubjectL:            true,
	ttlv.TagCertificateSubjectUID:          true,
	ttlv.TagCertificateSubjectSerialNumber: true,
	ttlv.TagCertificateSubjectTitle:        true,
	ttlv.TagCertificateSubjectDC:           true,
	ttlv.TagCertificateSubjectDNQualifier:  true,
	ttlv.TagCertificateIssuerCN:            true,
	ttlv.TagCertificateIssuerO:             true,
	ttlv.TagCertificateIssuerOU:            true,
	ttlv.TagCertificateIssuerEmail:         true,
	ttlv.TagCertificateIssuerC:             true,
	ttlv.TagCertificateIssuerST:            true,
	ttlv.TagCertificateIssuerL:             true,
	ttlv.TagCertificateIssuerUID:           true,
	ttlv.TagCertificateIssuerSerialNumber:  true,
	ttlv.TagCertificateIssuerTitle:         true,
	ttlv.TagCertificateIssuerDC:            true,
	ttlv.TagCertificateIssuerDNQualifier:   true,
}

// The parts of an X.509 certificate (RFC 5280 §4.1) kmipd reads. They are
// parsed structurally, not with crypto/x509, so that a certificate for a
// key Go does not implement (secp256k1) is described as well.
type certificateASN1 struct {
	TBS       tbsCertificateASN1
	SigAlg    pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

type tbsCertificateASN1 struct {
	Version   int `asn1:"optional,explicit,default:0,tag:0"`
	Serial    asn1.RawValue
	SigAlg    pkix.AlgorithmIdentifier
	Issuer    asn1.RawValue
	Validity  asn1.RawValue
	Subject   asn1.RawValue
	PublicKey asn1.RawValue
}

// Signature algorithms (RFC 8017, RFC 5758, RFC 3279, NIST CSOR).
var sigAlgs = []struct {
	oid asn1.ObjectIdentifier
	alg kmip.DigitalSignatureAlgorithm
}{
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 2}, kmip.DigitalSignatureAlgorithmMD2WithRSAEncryption},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}, kmip.DigitalSignatureAlgorithmMD5WithRSAEncryption},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, kmip.DigitalSignatureAlgorithmSHA_1WithRSAEncryption},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}, kmip.DigitalSignatureAlgorithmSHA_224WithRSAEncryption},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, kmip.DigitalSignatureAlgorithmSHA_256WithRSAEncryption},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, kmip.DigitalSignatureAlgorithmSHA_384WithRSAEncryption},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, kmip.DigitalSignatureAlgorithmSHA_512WithRSAEncryption},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}, kmip.DigitalSignatureAlgorithmRSASSA_PSS},
	{asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 3}, kmip.DigitalSignatureAlgorithmDSAWithSHA_1},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 1}, kmip.DigitalSignatureAlgorithmDSAWithSHA224},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 2}, kmip.DigitalSignatureAlgorithmDSAWithSHA256},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}, kmip.DigitalSignatureAlgorithmECDSAWithSHA_1},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}, kmip.DigitalSignatureAlgorithmECDSAWithSHA224},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, kmip.DigitalSignatureAlgorithmECDSAWithSHA256},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, kmip.DigitalSignatureAlgorithmECDSAWithSHA384},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, kmip.DigitalSignatureAlgorithmECDSAWithSHA512},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 14}, kmip.DigitalSignatureAlgorithmSHA3_256WithRSAEncryption},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 15}, kmip.DigitalSignatureAlgorithmSHA3_384WithRSAEncryption},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 16}, kmip.DigitalSignatureAlgorithmSHA3_512WithRSAEncryption},
}

// Distinguished name attribute types (RFC 4519, RFC 2985) and the
// Certificate Subject/Issuer attributes that carry them.
var dnAttrs = []struct {
	oid             asn1.ObjectIdentifier
	subject, issuer ttlv.Tag
}{
	{asn1.ObjectIdentifier{2, 5, 4, 3}, ttlv.TagCertificateSubjectCN, ttlv.TagCertificateIssuerCN},
	{asn1.ObjectIdentifier{2, 5, 4, 10}, ttlv.TagCertificateSubjectO, ttlv.TagCertificateIssuerO},
	{asn1.ObjectIdentifier{2, 5, 4, 11}, ttlv.TagCertificateSubjectOU, ttlv.TagCertificateIssuerOU},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, ttlv.TagCertificateSubjectEmail, ttlv.TagCertificateIssuerEmail},
	{asn1.ObjectIdentifier{2, 5, 4, 6}, ttlv.TagCertificateSubjectC, ttlv.TagCertificateIssuerC},
	{asn1.ObjectIdentifier{2, 5, 4, 8}, ttlv.TagCertificateSubjectST, ttlv.TagCertificateIssuerST},
	{asn1.ObjectIdentifier{2, 5, 4, 7}, ttlv.TagCertificateSubjectL, ttlv.TagCertificateIssuerL},
	{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, ttlv.TagCertificateSubjectUID, ttlv.TagCertificateIssuerUID},
	{asn1.ObjectIdentifier{2, 5, 4, 5}, ttlv.TagCertificateSubjectSerialNumber, ttlv.TagCertificateIssuerSerialNumber},
	{asn1.ObjectIdentifier{2, 5, 4, 12}, ttlv.TagCertificateSubjectTitle, ttlv.TagCertificateIssuerTitle},
	{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, ttlv.TagCertificateSubjectDC, ttlv.TagCertificateIssuerDC},
	{asn1.ObjectIdentifier{2, 5, 4, 46}, ttlv.TagCertificateSubjectDNQualifier, ttlv.TagCertificateIssuerDNQualifier},
}

// certAttributes returns the attributes derived from a certificate of type
// typ: Certificate Type and Length always; for X.509 the identifier,
// subject and issuer in their KMIP 1.x (text) and X.509 (DER) forms, the
// subject and issuer name components, the Digital Signature Algorithm and
// the Cryptographic Algorithm and Length of the certified key. An X.509
// certificate that does not parse fails with Invalid Field.
func certAttributes(typ kmip.CertificateType, der []byte) ([]objects.Attribute, error) {
	out := []objects.Attribute{
		objects.EnumAttr(ttlv.TagCertificateType, uint32(typ)),
		objects.IntAttr(ttlv.TagCertificateLength, int32(len(der))),
	}
	if typ != kmip.CertificateTypeX_509 {
		return out, nil
	}
	var c certificateASN1
	if !keyform.UnmarshalAll(der, &c) || c.TBS.Serial.Tag != asn1.TagInteger || c.TBS.Serial.Class != asn1.ClassUniversal {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "not an X.509 certificate")
	}
	var subject, issuer pkix.RDNSequence
	if !keyform.UnmarshalAll(c.TBS.Subject.FullBytes, &subject) || !keyform.UnmarshalAll(c.TBS.Issuer.FullBytes, &issuer) {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "X.509 certificate with a malformed name")
	}
	issuerDER, subjectDER := c.TBS.Issuer.FullBytes, c.TBS.Subject.FullBytes
	out = append(out,
		structAttr(ttlv.TagX_509CertificateIdentifier, func(b *ttlv.Builder) {
			b.AddBytes(ttlv.TagIssuerDistinguishedName, issuerDER)
			b.AddBytes(ttlv.TagCertificateSerialNumber, c.TBS.Serial.FullBytes)
		}),
		structAttr(ttlv.TagX_509CertificateSubject, func(b *ttlv.Builder) {
			b.AddBytes(ttlv.TagSubjectDistinguishedName, subjectDER)
		}),
		structAttr(ttlv.TagX_509CertificateIssuer, func(b *ttlv.Builder) {
			b.AddBytes(ttlv.TagIssuerDistinguishedName, issuerDER)
		}),
		// KMIP 1.x forms: the names as RFC 4514 strings, the serial number
		// in hex (version gating keeps them from 2.x clients).
		structAttr(ttlv.TagCertificateIdentifier, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagIssuer, issuer.String())
			b.AddText(ttlv.TagSerialNumber, hex.EncodeToString(c.TBS.Serial.Bytes))
		}),
		structAttr(ttlv.TagCertificateSubject, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagCertificateSubjectDistinguishedName, subject.String())
		}),
		structAttr(ttlv.TagCertificateIssuer, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagCertificateIssuerDistinguishedName, issuer.String())
		}),
	)
	for _, s := range sigAlgs {
		if s.oid.Equal(c.SigAlg.Algorithm) {
			out = append(out, objects.EnumAttr(ttlv.TagDigitalSignatureAlgorithm, uint32(s.alg)))
			break
		}
	}
	if k, err := keyform.Parse(c.TBS.PublicKey.FullBytes, false); err == nil {
		out = append(out,
			objects.EnumAttr(ttlv.TagCryptographicAlgorithm, uint32(k.Alg)),
			objects.IntAttr(ttlv.TagCryptographicLength, k.Bits))
	}
	out = appendDNAttrs(out, subject, true)
	out = appendDNAttrs(out, issuer, false)
	return out, nil
}

func appendDNAttrs(out []objects.Attribute, name pkix.RDNSequence, subject bool) []objects.Attribute {
	for _, rdn := range name {
		for _, atv := range rdn {
			s, ok := atv.Value.(string)
			if !ok {
				continue
			}
			for _, d := range dnAttrs {
				if d.oid.Equal(atv.Type) {
					tag := d.issuer
					if subject {
						tag = d.subject
					}
					out = append(out, objects.TextAttr(tag, s))
					break
				}
			}
		}
	}
	return out
}

// structAttr builds a standard structured attribute.
func structAttr(tag ttlv.Tag, fill func(b *ttlv.Builder)) objects.Attribute {
	b := ttlv.NewBuilder(make([]byte, 0, 128))
	b.Begin(tag)
	fill(b)
	b.End()
	raw, _ := b.Bytes()
	return objects.Attribute{Tag: tag, Raw: raw}
}
