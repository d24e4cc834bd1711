package lifecycle_test

import (
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Query RNGs names the generator as the Random Number Generator attribute
// of generated keys does (TC-Q-RNGS-1-14); Query Operations lists the split
// key operations.
func TestQuery_RNGsAndSplitKeys(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		c := e.srv.Dial(t, "alice", ver)
		it := must(t, c, kmip.OperationQuery, fEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryRNGs)))
		p := it.Payload
		var rng ttlv.Value
		var alg uint32
		if !p.ReadStructure(ttlv.TagRNGParameters, &rng) || !rng.ReadEnum(ttlv.TagRNGAlgorithm, &alg) ||
			kmip.RNGAlgorithm(alg) != kmip.RNGAlgorithmUnspecified || !rng.Empty() || !p.Empty() {
			t.Fatalf("%s: Query RNGs: %s", ver, ttlv.Format(it.Payload))
		}
		it = must(t, c, kmip.OperationQuery, fEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryOperations)))
		ops := map[kmip.Operation]bool{}
		v := it.Payload
		for !v.Empty() {
			x, _ := v.Next()
			ops[kmip.Operation(x.Uint32())] = true
		}
		if !ops[kmip.OperationCreateSplitKey] || !ops[kmip.OperationJoinSplitKey] {
			t.Fatalf("%s: Query Operations: %s", ver, ttlv.Format(it.Payload))
		}
	}
	// KMIP 1.2 has no RNG Parameters: nothing is said.
	c := e.srv.Dial(t, "alice", kmip.V1_2)
	if it := must(t, c, kmip.OperationQuery, fEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryRNGs))); !it.Payload.Empty() {
		t.Fatalf("1.2: %s", ttlv.Format(it.Payload))
	}
}
