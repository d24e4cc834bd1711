package lifecycle_test

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/ttlv"
)

// Who Am I answers, in every protocol version, with the identity and the
// certificate the server saw; Query does not list it (a vendor operation);
// a payload is refused.
func TestWhoAmI(t *testing.T) {
	e := newEnv(t)
	cert := e.srv.PKI.ClientTLS(t, "alice").Certificates[0].Certificate[0]
	sum := sha256.Sum256(cert)
	wantFP := hex.EncodeToString(sum[:])
	for _, ver := range []kmip.Version{kmip.V1_0, kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		c := e.srv.Dial(t, "alice", ver)
		it, err := do(t, c, lifecycle.OperationWhoAmI, nil)
		if err != nil {
			t.Fatalf("%s: %v", ver, err)
		}
		var name, fp []byte
		p := it.Payload
		if !p.ReadText(lifecycle.TagWhoAmIIdentity, &name) || !p.ReadText(lifecycle.TagWhoAmIFingerprint, &fp) || !p.Empty() {
			t.Fatalf("%s: payload %s", ver, ttlv.Format(it.Payload))
		}
		if string(name) != "alice" || string(fp) != wantFP {
			t.Errorf("%s: identity %q fingerprint %s, want alice %s", ver, name, fp, wantFP)
		}
		if slices.Contains(queryOperations(t, c), lifecycle.OperationWhoAmI) {
			t.Errorf("%s: Query lists the vendor operation Who Am I", ver)
		}
		_, err = do(t, c, lifecycle.OperationWhoAmI, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "x") })
		wantReason(t, err, kmip.ResultReasonInvalidField)
	}
	if !lifecycle.ReadOnly(lifecycle.OperationWhoAmI) {
		t.Error("Who Am I is not read-only")
	}
}
