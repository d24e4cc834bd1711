package lifecycle

import (
	"encoding/hex"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Who Am I is a kmipd vendor operation (an extension value, KMIP 2.0
// §10.1.1.3): it answers with the identity the server took from the
// client's certificate, so that an operator can see which identity, and
// so which objects, a certificate maps to without reading server logs. The
// request payload is empty. Query does not list it (query.go).
const OperationWhoAmI = access.OperationWhoAmI

// Its response payload's items, extension tags (KMIP 2.0 §10.1.1).
const (
	TagWhoAmIIdentity    ttlv.Tag = 0x540001 // Text String: the identity (object owner)
	TagWhoAmIFingerprint ttlv.Tag = 0x540002 // Text String: SHA-256 of the certificate, hex
)

func (s *Service) whoAmI(c *kmip.Call, w *ttlv.Builder) error {
	if !c.Item.Payload.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Who Am I takes an empty request payload")
	}
	var fp [64]byte
	hex.Encode(fp[:], c.Identity.Fingerprint[:])
	w.AddText(TagWhoAmIIdentity, c.Identity.Name)
	w.AddText(TagWhoAmIFingerprint, string(fp[:]))
	return nil
}
