package lifecycle_test

import (
	"slices"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// queryOperations returns the operations Query Operations lists, in its
// order.
func queryOperations(t *testing.T, c *kmip.Client) []kmip.Operation {
	t.Helper()
	it := must(t, c, kmip.OperationQuery, fEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryOperations)))
	var ops []kmip.Operation
	p := it.Payload
	for !p.Empty() {
		x, _ := p.Next()
		if x.Tag == ttlv.TagOperation {
			ops = append(ops, kmip.Operation(x.Uint32()))
		}
	}
	return ops
}

// Ensure that every operation the service registers is advertised by Query
// Operations (in each version that has it) and every advertised one is
// served: an operation cannot be registered and hidden, or advertised and
// answered with Operation Not Supported.
func TestOperationTable_QueryMatchesMux(t *testing.T) {
	for _, interop := range []bool{true, false} {
		le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) { c.Interop = interop }})
		srv := kmiptest.Start(t, kmiptest.MustPKI(t, "admin"), le.Service)
		registered := lifecycle.Registered(le.Service)
		if got := slices.Contains(registered, kmip.OperationInterop); got != interop {
			t.Errorf("interop=%v: Interop registered = %v", interop, got)
		}
		for _, ver := range []kmip.Version{kmip.V2_1, kmip.V1_4} {
			c := srv.Dial(t, "admin", ver)
			advertised := queryOperations(t, c)
			seen := map[kmip.Operation]bool{}
			for _, op := range advertised {
				if seen[op] {
					t.Errorf("interop=%v %s: Query lists %s twice", interop, ver, op)
				}
				if op.IsExtension() {
					t.Errorf("interop=%v %s: Query lists the vendor operation %s", interop, ver, op)
				}
				seen[op] = true
				if !slices.Contains(registered, op) {
					t.Errorf("interop=%v %s: Query lists %s, which is not registered", interop, ver, op)
				}
			}
			for _, op := range registered {
				has := ver.HasEnum(ttlv.TagOperation, uint32(op))
				if ver == kmip.V2_1 && !has {
					t.Errorf("%s is registered but does not exist in KMIP 2.1", op)
				}
				if has && !seen[op] && !op.IsExtension() && !lifecycle.Unlisted(le.Service, op) {
					t.Errorf("interop=%v %s: %s is registered but Query does not list it", interop, ver, op)
				}
			}
			// Each advertised operation is answered by its handler (an
			// empty payload is refused by the handler, not the mux).
			for _, op := range advertised {
				_, err := do(t, c, op, func(*ttlv.Builder) {})
				if r, _ := kmip.ResultOf(err); err != nil && r == kmip.ResultReasonOperationNotSupported {
					t.Errorf("interop=%v %s: Query lists %s, which answers %v", interop, ver, op, err)
				}
			}
			// The check above tells an unserved operation.
			if _, err := do(t, c, kmip.OperationCertify, func(*ttlv.Builder) {}); err == nil {
				t.Errorf("%s: Certify succeeded", ver)
			} else if r, _ := kmip.ResultOf(err); r != kmip.ResultReasonOperationNotSupported {
				t.Errorf("%s: Certify: %v, want Operation Not Supported", ver, err)
			}
		}
	}
}

// Ensure that the read-only operations of KMIP are the table's reads: those
// the audit middleware serves outside a transaction (cmd/kmipd checks that
// the middleware is given lifecycle.ReadOnly). A vendor operation's test
// checks its own row.
func TestOperationTable_ReadOnly(t *testing.T) {
	var got []kmip.Operation
	for _, op := range lifecycle.TableOperations() {
		if !op.IsExtension() && lifecycle.ReadOnly(op) {
			got = append(got, op)
		}
	}
	want := []kmip.Operation{
		kmip.OperationLocate, kmip.OperationGet, kmip.OperationGetAttributes,
		kmip.OperationGetAttributeList, kmip.OperationQuery, kmip.OperationDiscoverVersions,
		kmip.OperationValidate,
		// Tickets live in memory: Login and its kin change no object.
		kmip.OperationLogin, kmip.OperationLogout, kmip.OperationDelegatedLogin,
		kmip.OperationPoll, kmip.OperationCancel, kmip.OperationPKCS_11,
	}
	if !slices.Equal(got, want) {
		t.Errorf("read-only operations %v, want %v", got, want)
	}
	for _, op := range []kmip.Operation{kmip.OperationCertify, kmip.OperationPing, 0x8000_FFFF} {
		if lifecycle.ReadOnly(op) {
			t.Errorf("ReadOnly(%v) for an operation kmipd does not serve", op)
		}
	}
}
