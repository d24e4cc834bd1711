package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// maxLogMessage bounds how much of a Log Message goes into the server log.
const maxLogMessage = 4096

// logOp is the Log operation (KMIP 2.0 §6.1.28): the client's Log Message
// goes into the server log, at info level, with the client's identity. The
// response payload is empty (BL-M-1-21).
func (s *Service) logOp(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.LogRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	msg := req.Message
	truncated := len(msg) > maxLogMessage
	if truncated {
		msg = msg[:maxLogMessage]
	}
	ev := s.cfg.Logger.Info().Str("identity", c.Identity.Name).Bytes("log_message", msg)
	if truncated {
		ev = ev.Int("log_message_len", len(req.Message))
	}
	if c.RemoteAddr != nil {
		ev = ev.Str("remote", c.RemoteAddr.String())
	}
	ev.Msg("KMIP Log")
	return nil
}

// setEndpointRole is the Set Endpoint Role operation (KMIP 2.0 §6.1.46):
// kmipd takes note of the role a client asks it to play, Client or Server,
// and answers with an empty payload. It initiates no server-to-client
// operations either way.
func (s *Service) setEndpointRole(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.SetEndpointRoleRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	switch req.Role {
	case kmip.EndpointRoleClient, kmip.EndpointRoleServer:
	default:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "unknown Endpoint Role %d", uint32(req.Role))
	}
	s.cfg.Logger.Debug().Str("identity", c.Identity.Name).Stringer("endpoint_role", req.Role).Msg("Set Endpoint Role")
	return nil
}

// obtainLease is the Obtain Lease operation (KMIP 2.0 §6.1.36, 1.4
// §4.18): it answers with the object's Lease Time (the default one if the
// object has none) and Last Change Date, from which the client counts the
// lease. A destroyed object is refused with Object Destroyed, an archived
// one with Object Archived.
func (s *Service) obtainLease(c *kmip.Call, w *ttlv.Builder) error {
	var u kmip.UniqueID
	if err := kmip.ReadOnlyUniqueID(c.Item.Payload, kmip.OperationObtainLease, &u); err != nil {
		return err
	}
	o, err := s.lookup(c, u)
	if err != nil {
		return err
	}
	if err := errIfArchived(o); err != nil {
		return err
	}
	if destroyed(o.State()) {
		return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed")
	}
	lease, ok := o.Interval(ttlv.TagLeaseTime)
	if !ok {
		lease = defaultLeaseTime
	}
	changed, ok := o.Date(ttlv.TagLastChangeDate)
	if !ok {
		changed, _ = o.Date(ttlv.TagInitialDate)
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	w.AddInterval(ttlv.TagLeaseTime, lease)
	w.AddDateTime(ttlv.TagLastChangeDate, changed)
	return nil
}

// getUsageAllocation is the Get Usage Allocation operation (KMIP 2.0
// §6.1.23, 1.4 §4.17): it reserves Usage Limits Count units of the
// object's Usage Limits for the client, who may then apply protection with
// the object on its own. The object must be Active, as applying protection
// requires, and have Usage Limits (Permission Denied otherwise); an
// allocation beyond what is left fails with Usage Limit Exceeded (Permission
// Denied in 1.x) and takes nothing.
func (s *Service) getUsageAllocation(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.GetUsageAllocationRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	if req.UsageLimitsCount <= 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Usage Limits Count must be positive")
	}
	return s.transitionID(c, w, req.UniqueID, func(o *objects.Object) error {
		if err := errIfArchived(o); err != nil {
			return err
		}
		if destroyed(o.State()) {
			return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed")
		}
		if o.State() != kmip.StateActive {
			return errState(kmip.OperationGetUsageAllocation, o.State())
		}
		ul, ok := usageLimits(o)
		if !ok {
			return kmip.Errorf(kmip.ResultReasonPermissionDenied, "the object has no Usage Limits")
		}
		left, _ := usageLeft(o)
		if req.UsageLimitsCount > left {
			return kmip.Errorf(kmip.ResultReasonUsageLimitExceeded, "%d usage units asked, %d left", req.UsageLimitsCount, left)
		}
		o.Set(usageLimitsAttr(ul.total, left-req.UsageLimitsCount, ul.unit))
		return nil
	})
}
