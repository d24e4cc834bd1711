package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// reProvision is the Re-Provision operation (KMIP 2.0 and 2.1, not 1.x):
// a client's certificate is replaced by a new one the server issues. Its
// row requires Certify, through which kmipd issues certificates: while
// Certify is not served, the request is read (a malformed one is refused
// as such) and then refused with Operation Not Supported naming that
// dependency, and Query does not list Re-Provision.
func (s *Service) reProvision(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.ReProvisionRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	if !s.Supports(kmip.OperationCertify) {
		return kmip.Errorf(kmip.ResultReasonOperationNotSupported,
			"Re-Provision issues the new certificate with Certify, which this server does not serve")
	}
	return kmip.Errorf(kmip.ResultReasonOperationNotSupported, "Re-Provision is not yet wired to Certify")
}
