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

// Query Capabilities says what kmipd does: streaming, Undo and Continue,
// wrapped keys unwrapped on Register, Destroy deleting the key material, one
// shared generator; KMIP 1.3 added the capability fields, 1.2 has none.
func TestQuery_Capabilities(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_2, kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		c := e.srv.Dial(t, "alice", ver)
		it, err := do(t, c, kmip.OperationQuery, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryCapabilities))
		})
		if err != nil {
			t.Fatalf("%s: %v", ver, err)
		}
		ci, ok := it.Payload.Find(ttlv.TagCapabilityInformation)
		if !ver.AtLeast(kmip.V1_3) {
			if ok {
				t.Errorf("%s: Capability Information sent", ver)
			}
			continue
		}
		if !ok {
			t.Fatalf("%s: no Capability Information: %s", ver, ttlv.Format(it.Payload))
		}
		got := map[ttlv.Tag]uint32{}
		v := ci.Children()
		for !v.Empty() {
			item, _ := v.Next()
			if item.Type == ttlv.TypeBoolean {
				got[item.Tag] = 0
				if item.Bool() {
					got[item.Tag] = 1
				}
				continue
			}
			got[item.Tag] = item.Uint32()
		}
		want := map[ttlv.Tag]uint32{
			ttlv.TagStreamingCapability: 1, ttlv.TagAsynchronousCapability: 1, ttlv.TagAttestationCapability: 0,
			ttlv.TagBatchUndoCapability: 1, ttlv.TagBatchContinueCapability: 1,
			ttlv.TagUnwrapMode:         uint32(kmip.UnwrapModeProcessed),
			ttlv.TagDestroyAction:      uint32(kmip.DestroyActionKeyMaterialDeleted),
			ttlv.TagShreddingAlgorithm: uint32(kmip.ShreddingAlgorithmUnsupported),
			ttlv.TagRNGMode:            uint32(kmip.RNGModeSharedInstantiation),
		}
		for tag, w := range want {
			if g, ok := got[tag]; !ok || g != w {
				t.Errorf("%s: %s = %d (present %v), want %d", ver, tag, g, ok, w)
			}
		}
	}
}
