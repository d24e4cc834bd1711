package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
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
	ev := s.cfg.Logger.Info().Str("request", c.RequestID.String()).Str("identity", c.Identity.Name).Bytes("log_message", msg)
	if truncated {
		ev = ev.Int("log_message_len", len(req.Message))
	}
	if c.RemoteAddr != nil {
		ev = ev.Str("remote", c.RemoteAddr.String())
	}
	ev.Msg("KMIP Log")
	return nil
}
