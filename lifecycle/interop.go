package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// interop implements the Interop operation (KMIP 2.0 §6.1.25) for
// conformance runs: Begin and End are accepted, Reset wipes the store. Only
// admins may call it, and only when the server enables it.
func (s *Service) interop(c *kmip.Call, w *ttlv.Builder) error {
	v := c.Item.Payload
	var fn uint32
	if !v.ReadEnum(ttlv.TagInteropFunction, &fn) {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Interop needs an Interop Function")
	}
	if !s.globalAdmin(c.Identity.Name) {
		return kmip.Errorf(kmip.ResultReasonPermissionDenied, "Interop is for admins")
	}
	switch kmip.InteropFunction(fn) {
	case kmip.InteropFunctionBegin, kmip.InteropFunctionEnd:
		return nil
	case kmip.InteropFunctionReset:
		err := s.update(c, func(tx *store.Tx) error {
			s.writes.wipe(tx)
			return tx.Reset()
		})
		s.cache.clear()
		return err
	}
	return kmip.Errorf(kmip.ResultReasonInvalidField, "unknown Interop Function")
}
