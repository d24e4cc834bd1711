package objects

import (
	"slices"

	"github.com/kmipd/kmipd/internal/access"
)

// Grant lets an identity other than the owner apply some operations to an
// object. The type is the access model's (internal/access), so that the
// decision point reads an object's grants as they are stored, and clients
// of the grant operations need not import the object model.
type Grant = access.Grant

// cloneGrants copies gs deeply.
func cloneGrants(gs []Grant) []Grant {
	if gs == nil {
		return nil
	}
	out := make([]Grant, len(gs))
	for i, g := range gs {
		out[i] = g
		out[i].Ops = slices.Clone(g.Ops)
	}
	return out
}
