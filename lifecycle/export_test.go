package lifecycle

import "github.com/kmipd/kmipd/kmip"

// Registered returns the operations s's mux serves, in no particular order.
func Registered(s *Service) []kmip.Operation { return s.mux.Operations() }

// TableOperations returns the operations of the operation table, in its
// order.
func TableOperations() []kmip.Operation {
	ops := make([]kmip.Operation, len(operations))
	for i, o := range operations {
		ops[i] = o.op
	}
	return ops
}

// Unlisted reports whether s serves op without Query listing it: its row
// requires an operation s does not serve.
func Unlisted(s *Service, op kmip.Operation) bool {
	o := byOp[op]
	return o != nil && !s.listed(o)
}
