package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// reProvision is the Re-Provision operation (KMIP 2.0 and 2.1, not 1.x):
// a client's certificate is replaced by a new one the server issues, as
// Re-certify does (same key and subject, new validity, Replaced and
// Replacement links). Its row requires Certify, through which kmipd
// issues certificates: while Certify is not served (no certify.enabled),
// the request is read and refused with Operation Not Supported naming that
// dependency, and Query does not list Re-Provision. Protection Storage
// Masks are accepted and have no effect: issued certificates are stored
// like every other object.
func (s *Service) reProvision(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.ReProvisionRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	if !s.Supports(kmip.OperationCertify) {
		return kmip.Errorf(kmip.ResultReasonOperationNotSupported,
			"Re-Provision issues the new certificate with Certify, which this server does not serve")
	}
	return s.renewCertificate(c, w, kmip.CertifyRequest{UniqueID: req.UniqueID, Attributes: req.Attributes})
}
