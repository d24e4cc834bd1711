package lifecycle_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/keywrap"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// wrapKEK registers an AES key usable to wrap, Active unless preActive.
func wrapKEK(t *testing.T, c *kmip.Client, kek []byte, mask kmip.CryptographicUsageMask, preActive bool) string {
	t.Helper()
	id, err := registerKey(t, c, kmip.KeyFormatTypeRaw, kek, func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(mask))
		if !preActive {
			b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// getWrapped runs Get with a Key Wrapping Specification and returns the
// wrapped Key Value.
func getWrapped(t *testing.T, c *kmip.Client, id, kekID string, mode kmip.BlockCipherMode, enc kmip.EncodingOption, hashing kmip.HashingAlgorithm) ([]byte, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.Begin(ttlv.TagKeyWrappingSpecification)
		b.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
		b.Begin(ttlv.TagEncryptionKeyInformation)
		b.AddText(ttlv.TagUniqueIdentifier, kekID)
		if mode != 0 || hashing != 0 {
			b.Begin(ttlv.TagCryptographicParameters)
			if mode != 0 {
				b.AddEnum(ttlv.TagBlockCipherMode, uint32(mode))
			}
			if hashing != 0 {
				b.AddEnum(ttlv.TagPaddingMethod, uint32(kmip.PaddingMethodOAEP))
				b.AddEnum(ttlv.TagHashingAlgorithm, uint32(hashing))
			}
			b.End()
		}
		b.End()
		if enc != 0 {
			b.AddEnum(ttlv.TagEncodingOption, uint32(enc))
		}
		b.End()
	})
	if err != nil {
		return nil, err
	}
	obj, ok := findPath(it.Payload, ttlv.TagSymmetricKey, ttlv.TagKeyBlock)
	if !ok {
		t.Fatalf("wrapped Get: %s", ttlv.Format(it.Payload))
	}
	kb := obj.Children()
	kv, ok := kb.Find(ttlv.TagKeyValue)
	if !ok || kv.Type != ttlv.TypeByteString {
		t.Fatalf("wrapped Key Value is not a Byte String: %s", ttlv.Format(it.Payload))
	}
	kwd, ok := kb.Find(ttlv.TagKeyWrappingData)
	if !ok {
		t.Fatal("no Key Wrapping Data")
	}
	if u, ok := findPath(kwd.Children(), ttlv.TagEncryptionKeyInformation, ttlv.TagUniqueIdentifier); !ok || string(u.Data) != kekID {
		t.Fatalf("Key Wrapping Data names %q", u.Data)
	}
	return append([]byte(nil), kv.Data...), nil
}

func TestService_GetWrapped(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	kek := bytes.Repeat([]byte{0x11}, 32)
	key := bytes.Repeat([]byte{0x22}, 32)
	kekID := wrapKEK(t, c, kek, kmip.CryptographicUsageMaskWrapKey|kmip.CryptographicUsageMaskUnwrapKey, false)
	// The wrapped key is Sensitive: only a wrapped Get may serve it.
	id, err := registerKey(t, c, kmip.KeyFormatTypeRaw, key, func(b *ttlv.Builder) { b.AddBool(ttlv.TagSensitive, true) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = do(t, c, kmip.OperationGet, byID(id))
	wantReason(t, err, kmip.ResultReasonSensitive)

	// RFC 3394 with No Encoding: the Key Material itself.
	w, err := getWrapped(t, c, id, kekID, kmip.BlockCipherModeNISTKeyWrap, kmip.EncodingOptionNoEncoding, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keywrap.UnwrapKey(kek, w); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("KW unwrap: %x, %v", got, err)
	}
	// RFC 5649, default TTLV encoding: a Key Value structure.
	w, err = getWrapped(t, c, id, kekID, kmip.BlockCipherModeAESKeyWrapPadding, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := keywrap.UnwrapKeyPad(kek, w)
	if err != nil {
		t.Fatal(err)
	}
	v := ttlv.Value(got)
	var kv ttlv.Value
	var km []byte
	if !v.ReadStructure(ttlv.TagKeyValue, &kv) || !kv.ReadBytes(ttlv.TagKeyMaterial, &km) || !bytes.Equal(km, key) {
		t.Fatalf("TTLV-encoded wrapped value: %x", got)
	}

	// The wrapping key's own rules.
	_, err = getWrapped(t, c, id, "no-such-key", 0, 0, 0)
	wantReason(t, err, kmip.ResultReasonWrappingObjectNotFound)
	pre := wrapKEK(t, c, kek, kmip.CryptographicUsageMaskWrapKey, true)
	_, err = getWrapped(t, c, id, pre, 0, 0, 0)
	wantReason(t, err, kmip.ResultReasonWrongKeyLifecycleState)
	noWrap := wrapKEK(t, c, kek, kmip.CryptographicUsageMaskEncrypt, false)
	_, err = getWrapped(t, c, id, noWrap, 0, 0, 0)
	wantReason(t, err, kmip.ResultReasonIncompatibleCryptographicUsageMask)
	c12 := e.srv.Dial(t, "alice", kmip.V1_2)
	_, err = getWrapped(t, c12, id, "no-such-key", 0, 0, 0)
	wantReason(t, err, kmip.ResultReasonItemNotFound)
	// Not Extractable holds even wrapped.
	nx, err := registerKey(t, c, kmip.KeyFormatTypeRaw, key, func(b *ttlv.Builder) { b.AddBool(ttlv.TagExtractable, false) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = getWrapped(t, c, nx, kekID, 0, kmip.EncodingOptionNoEncoding, 0)
	wantReason(t, err, kmip.ResultReasonNotExtractable)
}

func TestService_RegisterWrapped(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	kek := bytes.Repeat([]byte{0x33}, 16)
	key := bytes.Repeat([]byte{0x44}, 24)
	kekID := wrapKEK(t, c, kek, kmip.CryptographicUsageMaskWrapKey|kmip.CryptographicUsageMaskUnwrapKey, false)
	wrapped, err := keywrap.WrapKey(kek, key)
	if err != nil {
		t.Fatal(err)
	}
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt))
		b.End()
		b.Begin(ttlv.TagSymmetricKey)
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeRaw))
		b.AddBytes(ttlv.TagKeyValue, wrapped)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 192)
		b.Begin(ttlv.TagKeyWrappingData)
		b.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
		b.Begin(ttlv.TagEncryptionKeyInformation)
		b.AddText(ttlv.TagUniqueIdentifier, kekID)
		b.End()
		b.AddEnum(ttlv.TagEncodingOption, uint32(kmip.EncodingOptionNoEncoding))
		b.End()
		b.End()
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	var id []byte
	p := it.Payload
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	if got := getKey(t, c, string(id)); !bytes.Equal(got, key) {
		t.Fatalf("unwrapped on Register: %x", got)
	}
	it, err = do(t, c, kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, string(id))
		b.AddEnum(ttlv.TagKeyWrapType, uint32(kmip.KeyWrapTypeAsRegistered))
	})
	if err != nil {
		t.Fatal(err)
	}
	kv, ok := findPath(it.Payload, ttlv.TagSymmetricKey, ttlv.TagKeyBlock, ttlv.TagKeyValue)
	if !ok || !bytes.Equal(kv.Data, wrapped) {
		t.Fatalf("As Registered: %s", ttlv.Format(it.Payload))
	}
	// Bytes that do not unwrap under the key are refused.
	bad := append([]byte(nil), wrapped...)
	bad[3] ^= 1
	_, err = do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.End()
		b.Begin(ttlv.TagSymmetricKey)
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeRaw))
		b.AddBytes(ttlv.TagKeyValue, bad)
		b.Begin(ttlv.TagKeyWrappingData)
		b.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
		b.Begin(ttlv.TagEncryptionKeyInformation)
		b.AddText(ttlv.TagUniqueIdentifier, kekID)
		b.End()
		b.AddEnum(ttlv.TagEncodingOption, uint32(kmip.EncodingOptionNoEncoding))
		b.End()
		b.End()
		b.End()
	})
	wantReason(t, err, kmip.ResultReasonCryptographicFailure)
}

func TestService_GetWrappedRSAOAEP(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	now := time.Now().Add(-time.Hour).Unix()
	privID, pubID, err := kpCreate(t, c,
		[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA)), kpInt(ttlv.TagCryptographicLength, 2048), kpDate(ttlv.TagActivationDate, now)},
		[]kpAttr{kpMask(kmip.CryptographicUsageMaskUnwrapKey)},
		[]kpAttr{kpMask(kmip.CryptographicUsageMaskWrapKey)})
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{0x55}, 32)
	id, err := registerKey(t, c, kmip.KeyFormatTypeRaw, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := getWrapped(t, c, id, pubID, 0, kmip.EncodingOptionNoEncoding, kmip.HashingAlgorithmSHA_256)
	if err != nil {
		t.Fatal(err)
	}
	_, km, err := kpGet(t, c, privID, kmip.KeyFormatTypePKCS_8)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(km.Data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rsa.DecryptOAEP(sha256.New(), nil, priv.(*rsa.PrivateKey), w, nil)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("RSA-OAEP unwrap: %x, %v", got, err)
	}
}
