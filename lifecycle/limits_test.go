package lifecycle_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// nameFld writes a Name attribute in the form of ver.
func nameFld(ver kmip.Version, v string) fld {
	if ver.V2() {
		return fld(aoName(v))
	}
	return fld(aoV1("Name", -1, aoV1NameValue(v)))
}

// limitReason is the refusal of a value over a server limit: Server Limit
// Exceeded in 2.x, Invalid Field in 1.x, which lacks it.
func limitReason(ver kmip.Version) kmip.ResultReason {
	if ver.V2() {
		return kmip.ResultReasonServerLimitExceeded
	}
	return kmip.ResultReasonInvalidField
}

// TestAttributeLimits_MegabyteName: a 1,000,000-byte Name was stored by
// every operation that takes attributes. Each now refuses it, naming the
// attribute and the limit, and stores nothing.
func TestAttributeLimits_MegabyteName(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("n", 1_000_000)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			attr := "Name"
			refused := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s with a 1,000,000-byte Name succeeded", what)
				}
				ke, ok := err.(*kmip.Error)
				if !ok || ke.Reason != limitReason(ver) {
					t.Fatalf("%s: got %v, want %s", what, err, limitReason(ver))
				}
				if !strings.Contains(ke.Message, attr) || !strings.Contains(ke.Message, strconv.Itoa(lifecycle.DefaultMaxAttributeSize)) {
					t.Errorf("%s: message %q should name the attribute and the limit", what, ke.Message)
				}
			}
			key := bytes.Repeat([]byte{1}, 16)
			symKey := func(b *ttlv.Builder) {
				kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: key,
					CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 128})
			}
			_, err := do(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
				symAttrs(ver, kmip.CryptographicAlgorithmAES, 256, big, nil)(b)
			})
			refused("Create", err)
			_, err = do(t, c, kmip.OperationRegister, pl(fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
				attrsWrap(ver, maskAttr(ver, encDec), nameFld(ver, big)), symKey))
			refused("Register", err)
			_, err = do(t, c, kmip.OperationCreateKeyPair, kpPayload(ver,
				[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEd25519))}, []kpAttr{kpName(big)}, nil))
			refused("Create Key Pair", err)
			base := regSecret(t, c, []byte("password"), deriveMask)
			_, err = do(t, c, kmip.OperationDeriveKey, pl(fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)), fUID(base),
				fEnum(ttlv.TagDerivationMethod, uint32(kmip.DerivationMethodPBKDF2)),
				func(b *ttlv.Builder) {
					b.Begin(ttlv.TagDerivationParameters)
					pl(fSalt([]byte("salt")), fIterations(1))(b)
					b.End()
				},
				attrsWrap(ver, func(b *ttlv.Builder) {
					if ver.V2() {
						b.AddInt32(ttlv.TagCryptographicLength, 128)
						return
					}
					attr1(b, "Cryptographic Length", func() { b.AddInt32(ttlv.TagAttributeValue, 128) })
				}, nameFld(ver, big))))
			refused("Derive Key", err)

			id := aoCreate(t, c, "small-"+ver.String(), nil)
			_, err = do(t, c, kmip.OperationReKey, aoPayload(byID(id), rkNameAttrs(ver, big)))
			refused("Re-key", err)
			if ver.V2() {
				_, err = do(t, c, kmip.OperationAddAttribute, aoPayload(byID(id), aoNew(aoName(big))))
				refused("Add Attribute", err)
				_, err = do(t, c, kmip.OperationSetAttribute, aoPayload(byID(id), aoNew(aoName(big))))
				refused("Set Attribute", err)
				_, err = do(t, c, kmip.OperationModifyAttribute, aoPayload(byID(id), aoNew(aoName(big))))
				refused("Modify Attribute", err)
				attr = "x:big"
				_, err = do(t, c, kmip.OperationAddAttribute, aoPayload(byID(id), aoNew(aoVendor("x", "big", big))))
				refused("Add Attribute (vendor)", err)
				attr = "Name"
			} else {
				_, err = do(t, c, kmip.OperationAddAttribute, aoPayload(byID(id), aoV1("Name", -1, aoV1NameValue(big))))
				refused("Add Attribute", err)
				_, err = do(t, c, kmip.OperationModifyAttribute, aoPayload(byID(id), aoV1("Name", 0, aoV1NameValue(big))))
				refused("Modify Attribute", err)
			}
			imported := uuidFor("big-import-" + ver.String())
			_, err = do(t, c, kmip.OperationImport, pl(fUID(imported), fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
				func(b *ttlv.Builder) {
					if ver.V2() {
						b.Begin(ttlv.TagAttributes)
						aoName(big)(b)
						b.End()
						return
					}
					aoV1("Name", -1, aoV1NameValue(big))(b)
				}, symKey))
			refused("Import", err)

			// Nothing was stored: the small key kept its one name, the
			// import made nothing, and no object carries the big name.
			if names := aoNames(aoGet2(t, e.srv.Dial(t, "alice", kmip.V2_0), id)); len(names) != 1 || names[0] != "small-"+ver.String() {
				t.Errorf("names after the refusals: %d of them", len(names))
			}
			_, err = do(t, c, kmip.OperationGetAttributes, byID(imported))
			wantReason(t, err, kmip.ReasonFor(ver, kmip.ResultReasonObjectNotFound))
			if ids, _ := arLocate(t, e.srv.Dial(t, "alice", kmip.V2_0), func(b *ttlv.Builder) {
				b.Begin(ttlv.TagAttributes)
				aoName(big)(b)
				b.End()
			}); len(ids) != 0 {
				t.Errorf("objects named with the big name: %v", ids)
			}
			// A name just under the limit is taken.
			fits := strings.Repeat("f", lifecycle.DefaultMaxAttributeSize-64)
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(byID(id), func() func(b *ttlv.Builder) {
				if ver.V2() {
					return aoNew(aoName(fits))
				}
				return aoV1("Name", -1, aoV1NameValue(fits))
			}()))
		})
	}
}

// TestAttributeLimits_Configured: the limits follow Config, including the
// number of attribute instances an object may carry.
func TestAttributeLimits_Configured(t *testing.T) {
	e := newEnvWith(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.MaxAttributeSize = 100
		c.MaxAttributes = 40
	}})
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	_, err := do(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, strings.Repeat("n", 100), nil)(b)
	})
	wantReason(t, err, kmip.ResultReasonServerLimitExceeded)
	id := aoCreate(t, c, "k", nil)
	// Add names until the object holds 40 attribute instances; the next is
	// refused, naming the limit and the most numerous attribute.
	var n int
	for n = 0; n < 100; n++ {
		_, err = do(t, c, kmip.OperationAddAttribute, aoPayload(byID(id), aoNew(aoName("n"+strconv.Itoa(n)))))
		if err != nil {
			break
		}
	}
	wantReason(t, err, kmip.ResultReasonServerLimitExceeded)
	if msg := err.(*kmip.Error).Message; !strings.Contains(msg, "40") || !strings.Contains(msg, "Name") {
		t.Errorf("message %q", msg)
	}
	if n == 0 || n >= 40 {
		t.Fatalf("%d names added before the limit", n)
	}
	// Register with more instances than the limit is refused too.
	_, err = do(t, c, kmip.OperationRegister, pl(fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)),
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttributes)
			for i := range 50 {
				aoName("r" + strconv.Itoa(i))(b)
			}
			b.End()
		},
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagSecretData)
			b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypePassword))
			b.Begin(ttlv.TagKeyBlock)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeOpaque))
			b.Begin(ttlv.TagKeyValue)
			b.AddBytes(ttlv.TagKeyMaterial, []byte("pw"))
			b.End()
			b.End()
			b.End()
		}))
	wantReason(t, err, kmip.ResultReasonServerLimitExceeded)
	// Deleting stays possible at the limit.
	aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(byID(id), aoCur(aoName("n0"))))
}
