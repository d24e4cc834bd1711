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
