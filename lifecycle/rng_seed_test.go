package lifecycle_test

import (
	"bytes"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// Each RNG Seed policy gives the answer of its CS-RNG-O file to the same
// 32-byte seed: accept all (O-1, 32), a cap of 16 (O-2), ignore (O-3, 0),
// deny (O-4, Permission Denied).
func TestRNGSeed_Policies(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5a}, 32)
	for _, tc := range []struct {
		name   string
		policy string
		max    int
		want   int32 // Data Length; -1: Permission Denied
	}{
		{"accept", "accept", 0, 32},
		{"accept-capped", "accept", 16, 16},
		{"cap-above-seed", "accept", 64, 32},
		{"ignore", "ignore", 0, 0},
		{"deny", "deny", 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol, ok := lifecycle.ParseRNGSeedPolicy(tc.policy)
			if !ok {
				t.Fatalf("policy %q not parsed", tc.policy)
			}
			le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
				c.RNGSeed, c.RNGSeedMaxBytes = pol, tc.max
			}})
			srv := kmiptest.Start(t, kmiptest.MustPKI(t, "admin"), le.Service)
			for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
				c := srv.Dial(t, "admin", ver)
				it, err := do(t, c, kmip.OperationRNGSeed, func(b *ttlv.Builder) { b.AddBytes(ttlv.TagData, seed) })
				if tc.want < 0 {
					wantReason(t, err, kmip.ResultReasonPermissionDenied)
					continue
				}
				if err != nil {
					t.Fatalf("%s: RNG Seed: %v", ver, err)
				}
				var n int32
				p := it.Payload
				if !p.ReadInt32(ttlv.TagDataLength, &n) || n != tc.want {
					t.Fatalf("%s: Data Length %d, want %d (%s)", ver, n, tc.want, ttlv.Format(it.Payload))
				}
				// The generator works whatever the policy.
				if _, err := do(t, c, kmip.OperationRNGRetrieve, func(b *ttlv.Builder) { b.AddInt32(ttlv.TagDataLength, 16) }); err != nil {
					t.Fatalf("%s: RNG Retrieve: %v", ver, err)
				}
			}
		})
	}
	if _, ok := lifecycle.ParseRNGSeedPolicy("sometimes"); ok {
		t.Error("unknown policy parsed")
	}
}
