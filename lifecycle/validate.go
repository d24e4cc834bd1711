package lifecycle

import (
	"crypto/x509"
	"errors"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// maxChain bounds the certificates of one Validate request.
const maxChain = 16

// validate implements Validate (KMIP 2.0 §6.1.53; 1.4 §4.24): it checks
// one certificate chain, given by value (Certificate) and/or as managed
// certificates (Unique Identifier), at the Validity Date or now, against
// kmipd's trust store: the client CA pool (Config.TrustRoots) and the
// Certify CA. The leaf is the certificate that issued none of the others;
// the rest are the intermediates. The Validity Indicator is
//
//   - Valid when the leaf chains to a trust anchor with every certificate
//     valid at that date;
//   - Unknown when it does not chain to any (kmipd cannot tell), or a
//     certificate is not X.509;
//   - Invalid when a chain certificate is not valid at that date, a
//     signature or constraint fails, a certificate does not parse, or a
//     managed one is Compromised or revoked.
//
// A request with neither validates the certificate the ID Placeholder
// names. A managed certificate the caller may not see is Object Not Found;
// a destroyed one Object Destroyed (its value is gone).
func (s *Service) validate(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.ValidateRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	if len(req.Certificates)+len(req.UniqueIDs) == 0 && c.Batch.IDPlaceholder != "" {
		req.UniqueIDs = append(req.UniqueIDs, kmip.UniqueID{Kind: kmip.UniqueIDAbsent})
	}
	n := len(req.Certificates) + len(req.UniqueIDs)
	if n == 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Validate needs a Certificate or a Unique Identifier")
	}
	if n > maxChain {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Validate takes at most %d certificates", maxChain)
	}
	indicator, err := s.validateChain(c, &req)
	if err != nil {
		return err
	}
	w.AddEnum(ttlv.TagValidityIndicator, uint32(indicator))
	return nil
}

func (s *Service) validateChain(c *kmip.Call, req *kmip.ValidateRequest) (kmip.ValidityIndicator, error) {
	var ders [][]byte
	unknown := false
	for _, v := range req.Certificates {
		if v.Type != kmip.CertificateTypeX_509 {
			unknown = true
			continue
		}
		ders = append(ders, v.Value)
	}
	invalid := false
	for _, u := range req.UniqueIDs {
		id, err := resolveID(c, u)
		if err != nil {
			return 0, err
		}
		o, err := s.lookup(c, kmip.UniqueID{Text: []byte(id), Kind: kmip.UniqueIDText})
		if err != nil {
			return 0, err
		}
		if o.Type != kmip.ObjectTypeCertificate {
			return 0, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Validate checks certificates, not a %s", o.Type)
		}
		if err := Allowed(kmip.OperationValidate, o.State()); err != nil {
			return 0, err
		}
		if st := o.State(); st == kmip.StateCompromised || o.Count(ttlv.TagRevocationReason) > 0 {
			invalid = true
		}
		if kmip.CertificateType(o.DataType) != kmip.CertificateTypeX_509 {
			unknown = true
			continue
		}
		if o.Blob == nil {
			return 0, errNoPlaintext(o)
		}
		der, err := s.cfg.Backend.Open(c.Context(), o.ID, o.Blob, nil)
		if err != nil {
			return 0, err
		}
		ders = append(ders, der)
	}
	if invalid {
		return kmip.ValidityIndicatorInvalid, nil
	}
	if unknown || len(ders) == 0 {
		return kmip.ValidityIndicatorUnknown, nil
	}
	chain := make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return kmip.ValidityIndicatorInvalid, nil
		}
		chain = append(chain, cert)
	}
	leaf, inter := splitLeaf(chain)
	at := c.Now
	if req.HasDate {
		at = time.Unix(req.ValidityDate, 0)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.trustStore(),
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	var unknownCA x509.UnknownAuthorityError
	switch {
	case err == nil:
		return kmip.ValidityIndicatorValid, nil
	case errors.As(err, &unknownCA):
		return kmip.ValidityIndicatorUnknown, nil
	}
	return kmip.ValidityIndicatorInvalid, nil
}

// splitLeaf returns the leaf of chain (the first certificate that signed
// none of the others) and the others as a pool.
func splitLeaf(chain []*x509.Certificate) (*x509.Certificate, *x509.CertPool) {
	leaf := 0
	for i, ci := range chain {
		issuer := false
		for j, cj := range chain {
			if i != j && cj.CheckSignatureFrom(ci) == nil {
				issuer = true
				break
			}
		}
		if !issuer {
			leaf = i
			break
		}
	}
	inter := x509.NewCertPool()
	for i, ci := range chain {
		if i != leaf {
			inter.AddCert(ci)
		}
	}
	return chain[leaf], inter
}

// trustStore returns the trust anchors of Validate: Config.TrustRoots and
// the Certify CA.
func (s *Service) trustStore() *x509.CertPool {
	pool := x509.NewCertPool()
	if s.cfg.TrustRoots != nil {
		pool = s.cfg.TrustRoots.Clone()
	}
	if p := s.cfg.Certify; p != nil && p.CACert != nil {
		pool.AddCert(p.CACert)
	}
	return pool
}
