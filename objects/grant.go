package objects

import (
	"slices"

	"github.com/kmipd/kmipd/kmip"
)

// Grant lets an identity other than the owner apply some operations to an
// object (the access model is internal/access; the grant operations are in
// lifecycle/grant.go).
type Grant struct {
	Identity string
	Ops      []kmip.Operation // ascending, no repeats
	// FollowReKey: Re-key and Re-key Key Pair copy the grant to the
	// replacement object.
	FollowReKey bool
}

// Has reports whether g grants op.
func (g *Grant) Has(op kmip.Operation) bool {
	_, ok := slices.BinarySearch(g.Ops, op)
	return ok
}

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
