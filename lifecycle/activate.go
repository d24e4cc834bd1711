package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) activate(c *kmip.Call, w *ttlv.Builder) error {
	return s.transition(c, w, func(o *objects.Object) error {
		st, err := Transition(o.State(), EventActivate)
		if err != nil {
			return err
		}
		o.SetState(st)
		o.SetDate(ttlv.TagActivationDate, now(c))
		return nil
	})
}
