package lifecycle_test

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// splitReq is a Create Split Key payload.
func splitReq(ver kmip.Version, base string, parts, threshold int32, m kmip.SplitKeyMethod, extra ...fld) fld {
	fs := []fld{
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSplitKey)),
		fUID(base),
		fInt(ttlv.TagSplitKeyParts, parts),
		fInt(ttlv.TagSplitKeyThreshold, threshold),
		fEnum(ttlv.TagSplitKeyMethod, uint32(m)),
	}
	fs = append(fs, extra...)
	return pl(append(fs, attrsWrap(ver))...)
}

// joinReq is a Join Split Key payload making a Symmetric Key.
func joinReq(ver kmip.Version, parts ...string) fld {
	fs := []fld{fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))}
	for _, p := range parts {
		fs = append(fs, fUID(p))
	}
	return pl(append(fs, attrsWrap(ver))...)
}

// splitKey runs Create Split Key and returns the parts' identifiers.
func splitKey(t *testing.T, c *kmip.Client, base string, parts, threshold int32, m kmip.SplitKeyMethod, extra ...fld) []string {
	t.Helper()
	it := must(t, c, kmip.OperationCreateSplitKey, splitReq(c.Version, base, parts, threshold, m, extra...))
	var ids []string
	v := it.Payload
	for !v.Empty() {
		var id []byte
		if !v.ReadText(ttlv.TagUniqueIdentifier, &id) {
			t.Fatalf("Create Split Key response: %s", ttlv.Format(it.Payload))
		}
		ids = append(ids, string(id))
	}
	if len(ids) != int(parts) {
		t.Fatalf("%d parts, want %d", len(ids), parts)
	}
	return ids
}

// splitPart returns the Split Key fields and key material Get returns for
// a part.
func splitPart(t *testing.T, c *kmip.Client, id string) (map[ttlv.Tag]ttlv.Item, []byte) {
	t.Helper()
	it := must(t, c, kmip.OperationGet, fUID(id))
	sk, ok := it.Payload.Find(ttlv.TagSplitKey)
	if !ok {
		t.Fatalf("Get %s: %s", id, ttlv.Format(it.Payload))
	}
	fields := map[ttlv.Tag]ttlv.Item{}
	v := sk.Children()
	for !v.Empty() {
		x, _ := v.Next()
		fields[x.Tag] = x
	}
	km, ok := findPath(sk.Children(), ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial)
	if !ok {
		t.Fatalf("Get %s: no key material: %s", id, ttlv.Format(it.Payload))
	}
	return fields, append([]byte(nil), km.Data...)
}

func TestSplitKey_Methods(t *testing.T) {
	key := unhex("0102030405060708090a0b0c0d0e0f10")
	cases := []struct {
		name             string
		method           kmip.SplitKeyMethod
		parts, threshold int32
		extra            []fld
		join             []int // indexes of the parts to join
	}{
		{"XOR", kmip.SplitKeyMethodXOR, 4, 4, nil, []int{3, 2, 1, 0}},
		{"GF2_8", kmip.SplitKeyMethodPolynomialSharingGF2_8, 5, 3, nil, []int{0, 2, 4}},
		{"GF2_8-more-than-threshold", kmip.SplitKeyMethodPolynomialSharingGF2_8, 5, 2, nil, []int{4, 1, 2}},
		{"PrimeField", kmip.SplitKeyMethodPolynomialSharingPrimeField, 4, 2, nil, []int{1, 3}},
		{"PrimeField-client-prime", kmip.SplitKeyMethodPolynomialSharingPrimeField, 3, 3,
			// 2^130 - 5, the Poly1305 prime.
			[]fld{func(b *ttlv.Builder) {
				p := new(big.Int).Lsh(big.NewInt(1), 130)
				b.AddBigIntValue(ttlv.TagPrimeFieldSize, p.Sub(p, big.NewInt(5)))
			}}, []int{2, 0, 1}},
	}
	for _, ver := range []kmip.Version{kmip.V2_1, kmip.V1_4} {
		e := newEnv(t)
		c := e.srv.Dial(t, "alice", ver)
		for _, tc := range cases {
			t.Run(ver.String()+"/"+tc.name, func(t *testing.T) {
				base := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec)
				ids := splitKey(t, c, base, tc.parts, tc.threshold, tc.method, tc.extra...)
				seen := map[string]bool{}
				for i, id := range ids {
					f, m := splitPart(t, c, id)
					if f[ttlv.TagSplitKeyParts].Int32() != tc.parts || f[ttlv.TagKeyPartIdentifier].Int32() != int32(i+1) ||
						f[ttlv.TagSplitKeyThreshold].Int32() != tc.threshold || kmip.SplitKeyMethod(f[ttlv.TagSplitKeyMethod].Uint32()) != tc.method {
						t.Fatalf("part %d fields %v", i, f)
					}
					if _, ok := f[ttlv.TagPrimeFieldSize]; ok != (tc.method == kmip.SplitKeyMethodPolynomialSharingPrimeField) {
						t.Fatalf("part %d: Prime Field Size present: %v", i, ok)
					}
					if bytes.Equal(m, key) || seen[string(m)] {
						t.Fatalf("part %d reveals the key or repeats a part: %x", i, m)
					}
					seen[string(m)] = true
				}
				var join []string
				for _, i := range tc.join {
					join = append(join, ids[i])
				}
				it := must(t, c, kmip.OperationJoinSplitKey, joinReq(ver, join...))
				joined := string(out2text(it))
				if got := material(t, c, joined); !bytes.Equal(got, key) {
					t.Fatalf("joined %x, want %x", got, key)
				}
				// Below the threshold the parts say nothing: refused.
				fails(t, c, kmip.OperationJoinSplitKey, kmip.ResultReasonCryptographicFailure,
					joinReq(ver, join[:tc.threshold-1]...))
				// The same part twice is not two parts.
				if tc.threshold > 1 {
					fails(t, c, kmip.OperationJoinSplitKey, kmip.ResultReasonCryptographicFailure,
						joinReq(ver, append(join[:tc.threshold-1:tc.threshold-1], join[0])...))
				}
			})
		}
	}
}

// The parts of TC-SJ-2/3 (KMIP Test Cases 2.0, 1.4): GF(2^8) shares of
// 0102...10, which fix the field's reduction polynomial (0x11D).
func TestSplitKey_OASISParts(t *testing.T) {
	parts := []string{"66C46A7754F94DE420C7B1A7FFF5EC56", "CF93D1E2A7E593CD5B8D6247F4E5D49C",
		"A855B891F61AD9217240D8EC061E37DA", "803DBAD55CDD329FAD19D99AE2C5A415"}
	_, c := cryptoEnv(t)
	var ids []string
	for i, p := range parts {
		it := must(t, c, kmip.OperationRegister,
			fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSplitKey)),
			attrsWrap(c.Version),
			func(b *ttlv.Builder) {
				b.Begin(ttlv.TagSplitKey)
				b.AddInt32(ttlv.TagSplitKeyParts, 4)
				b.AddInt32(ttlv.TagKeyPartIdentifier, int32(i+1))
				b.AddInt32(ttlv.TagSplitKeyThreshold, 2)
				b.AddEnum(ttlv.TagSplitKeyMethod, uint32(kmip.SplitKeyMethodPolynomialSharingGF2_8))
				kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: unhex(p)})
				b.End()
			})
		ids = append(ids, string(out2text(it)))
	}
	want := unhex("0102030405060708090a0b0c0d0e0f10")
	for _, pair := range [][2]int{{0, 2}, {3, 1}, {1, 2}} {
		it := must(t, c, kmip.OperationJoinSplitKey, pl(
			fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
			fUID(ids[pair[0]]), fUID(ids[pair[1]]),
			attrsWrap(c.Version, fAlg(kmip.CryptographicAlgorithmAES), fInt(ttlv.TagCryptographicLength, 128))))
		if got := material(t, c, string(out2text(it))); !bytes.Equal(got, want) {
			t.Fatalf("parts %v join to %x, want %x", pair, got, want)
		}
	}
}

func TestSplitKey_Errors(t *testing.T) {
	_, c := cryptoEnv(t)
	base := regSym(t, c, kmip.CryptographicAlgorithmAES, randBytes(16), encDec)
	for _, tc := range []struct {
		name             string
		parts, threshold int32
		m                kmip.SplitKeyMethod
		want             kmip.ResultReason
	}{
		{"XOR below all parts", 4, 2, kmip.SplitKeyMethodXOR, kmip.ResultReasonInvalidField},
		{"threshold above parts", 2, 3, kmip.SplitKeyMethodPolynomialSharingGF2_8, kmip.ResultReasonInvalidField},
		{"no parts", 0, 0, kmip.SplitKeyMethodPolynomialSharingGF2_8, kmip.ResultReasonInvalidField},
		{"too many parts", 256, 2, kmip.SplitKeyMethodPolynomialSharingGF2_8, kmip.ResultReasonInvalidField},
		{"GF(2^16)", 3, 2, kmip.SplitKeyMethodPolynomialSharingGF2_16, kmip.ResultReasonFeatureNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fails(t, c, kmip.OperationCreateSplitKey, tc.want, splitReq(c.Version, base, tc.parts, tc.threshold, tc.m))
		})
	}
	// A prime field too small for the key.
	fails(t, c, kmip.OperationCreateSplitKey, kmip.ResultReasonInvalidField,
		splitReq(c.Version, base, 3, 2, kmip.SplitKeyMethodPolynomialSharingPrimeField,
			func(b *ttlv.Builder) { b.AddBigIntValue(ttlv.TagPrimeFieldSize, big.NewInt(251)) }))
	// Only keys and secret data split; only split keys join.
	ids := splitKey(t, c, base, 2, 2, kmip.SplitKeyMethodXOR)
	fails(t, c, kmip.OperationCreateSplitKey, kmip.ResultReasonInvalidObjectType,
		splitReq(c.Version, ids[0], 2, 2, kmip.SplitKeyMethodXOR))
	fails(t, c, kmip.OperationJoinSplitKey, kmip.ResultReasonInvalidObjectType, joinReq(c.Version, base, ids[0]))
	// Parts of two splits do not join.
	other := splitKey(t, c, base, 3, 3, kmip.SplitKeyMethodXOR)
	fails(t, c, kmip.OperationJoinSplitKey, kmip.ResultReasonCryptographicFailure, joinReq(c.Version, ids[0], other[1]))
	// A destroyed part is gone.
	must(t, c, kmip.OperationDestroy, fUID(ids[1]))
	fails(t, c, kmip.OperationJoinSplitKey, kmip.ResultReasonObjectDestroyed, joinReq(c.Version, ids[0], ids[1]))
}

// The parts of a Sensitive, non-Extractable key are so too: splitting is
// no way around either.
func TestSplitKey_InheritsProtection(t *testing.T) {
	_, c := cryptoEnv(t)
	base := regSym(t, c, kmip.CryptographicAlgorithmAES, randBytes(16), encDec,
		fBool(ttlv.TagSensitive, true), fBool(ttlv.TagExtractable, false))
	ids := splitKey(t, c, base, 2, 2, kmip.SplitKeyMethodXOR)
	fails(t, c, kmip.OperationGet, kmip.ResultReasonNotExtractable, fUID(ids[0]))
}
