package lifecycle_test

import (
	"bytes"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// createSecret runs Create of Secret Data with the given Cryptographic Length.
func createSecret(t *testing.T, c *kmip.Client, bits int32) (string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData))
		if c.Version.V2() {
			b.Begin(ttlv.TagAttributes)
			b.AddInt32(ttlv.TagCryptographicLength, bits)
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskVerify))
			b.End()
			return
		}
		b.Begin(ttlv.TagTemplateAttribute)
		attr1(b, "Cryptographic Length", func() { b.AddInt32(ttlv.TagAttributeValue, bits) })
		attr1(b, "Cryptographic Usage Mask", func() { b.AddInt32(ttlv.TagAttributeValue, int32(kmip.CryptographicUsageMaskVerify)) })
		b.End()
	})
	if err != nil {
		return "", err
	}
	var ot uint32
	var id []byte
	p := it.Payload
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || kmip.ObjectType(ot) != kmip.ObjectTypeSecretData || !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		t.Fatalf("create response: %s", ttlv.Format(it.Payload))
	}
	return string(id), nil
}

// getSecret returns the Secret Data Type, Key Format Type and bytes of a Get.
func getSecret(t *testing.T, c *kmip.Client, id string) (kmip.SecretDataType, kmip.KeyFormatType, []byte) {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, byID(id))
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	p := it.Payload
	var ot, sdt, kft uint32
	var uid, data []byte
	var sd, kb, kv ttlv.Value
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || !p.ReadText(ttlv.TagUniqueIdentifier, &uid) ||
		!p.ReadStructure(ttlv.TagSecretData, &sd) || !sd.ReadEnum(ttlv.TagSecretDataType, &sdt) ||
		!sd.ReadStructure(ttlv.TagKeyBlock, &kb) || !kb.ReadEnum(ttlv.TagKeyFormatType, &kft) ||
		!kb.ReadStructure(ttlv.TagKeyValue, &kv) || !kv.ReadBytes(ttlv.TagKeyMaterial, &data) {
		t.Fatalf("get response: %s", ttlv.Format(it.Payload))
	}
	return kmip.SecretDataType(sdt), kmip.KeyFormatType(kft), append([]byte(nil), data...)
}

func TestService_CreateSecretData(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id1, err := createSecret(t, c, 256)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			id2, err := createSecret(t, c, 256)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			typ, kft, s1 := getSecret(t, c, id1)
			if typ != kmip.SecretDataTypePassword || kft != kmip.KeyFormatTypeOpaque || len(s1) != 32 {
				t.Fatalf("secret %s format %s of %d bytes, want Password, Opaque, 32", typ, kft, len(s1))
			}
			if _, _, s2 := getSecret(t, c, id2); bytes.Equal(s1, s2) {
				t.Fatal("two Creates returned the same secret")
			}
			if s := kmip.State(attrsOf(t, c, id1)[ttlv.TagState].Uint32()); s != kmip.StatePreActive {
				t.Errorf("state %s, want Pre-Active", s)
			}
			for _, bad := range []int32{0, 12, 8192} {
				_, err := createSecret(t, c, bad)
				wantReason(t, err, kmip.ResultReasonInvalidField)
			}
			// Another client does not see it.
			_, err = do(t, e.srv.Dial(t, "bob", ver), kmip.OperationGet, byID(id1))
			if err == nil {
				t.Fatal("bob read alice's secret")
			}
		})
	}
}
