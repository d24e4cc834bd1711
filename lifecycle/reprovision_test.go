package lifecycle_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Re-Provision exists from KMIP 2.0 on and needs Certify: without it, a
// well-formed request is refused naming Certify, a malformed one as such,
// and Query does not list it.
func TestReProvision_WithoutCertify(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V2_0, kmip.V2_1} {
		c := e.srv.Dial(t, "alice", ver)
		_, err := do(t, c, kmip.OperationReProvision, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, "some-certificate")
			b.Begin(ttlv.TagAttributes)
			b.End()
		})
		wantReason(t, err, kmip.ResultReasonOperationNotSupported)
		if !strings.Contains(err.Error(), "Certify") {
			t.Errorf("%s: refusal %v does not name Certify", ver, err)
		}
		_, err = do(t, c, kmip.OperationReProvision, func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicLength, 1) })
		wantReason(t, err, kmip.ResultReasonInvalidField)
		if slices.Contains(queryOperations(t, c), kmip.OperationReProvision) {
			t.Errorf("%s: Query lists Re-Provision without Certify", ver)
		}
	}
	_, err := do(t, e.srv.Dial(t, "alice", kmip.V1_4), kmip.OperationReProvision, nil)
	wantReason(t, err, kmip.ResultReasonOperationNotSupported)
}
