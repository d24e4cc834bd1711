package access

import (
	"slices"

	"github.com/kmipd/kmipd/kmip"
)

// Grant lets an identity other than the owner apply some operations to an
// object. Objects store them (objects.Grant is this type); the grant
// operations are in lifecycle/grant.go.
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
