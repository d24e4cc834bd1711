package kmip_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

func build(t *testing.T, f func(b *ttlv.Builder)) ttlv.Value {
	t.Helper()
	b := ttlv.NewBuilder(nil)
	f(b)
	v, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return ttlv.Value(v)
}

func TestCryptoRequest_Decode(t *testing.T) {
	v := build(t, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, "k1")
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeGCM))
		b.AddInt32(ttlv.TagTagLength, 12)
		b.AddBool(ttlv.TagRandomIV, true)
		b.AddBytes(ttlv.TagPSource, []byte("label"))
		b.End()
		b.AddBytes(ttlv.TagData, nil)
		b.AddBytes(ttlv.TagIVCounterNonce, []byte{1, 2, 3})
		b.AddBytes(ttlv.TagAuthenticatedEncryptionAdditionalData, []byte("aad"))
		b.AddBytes(ttlv.TagAuthenticatedEncryptionTag, []byte("tag"))
		b.AddBool(ttlv.TagInitIndicator, true)
	})
	var r kmip.CryptoRequest
	if err := r.Decode(v, kmip.OperationDecrypt); err != nil {
		t.Fatal(err)
	}
	p := r.Params
	if string(r.UniqueID.Text) != "k1" || !r.HasParams || p.BlockCipherMode != kmip.BlockCipherModeGCM || p.TagLength != 12 ||
		!p.RandomIV || string(p.PSource) != "label" || !p.Has(kmip.ParamTagLength|kmip.ParamRandomIV|kmip.ParamPSource) || p.Has(kmip.ParamPaddingMethod) {
		t.Fatalf("parameters: %+v", r.Params)
	}
	if r.Data == nil || len(r.Data) != 0 || !bytes.Equal(r.IV, []byte{1, 2, 3}) || string(r.AAD) != "aad" ||
		string(r.AuthTag) != "tag" || !r.Init || r.Final || !r.Streaming() {
		t.Fatalf("request: %+v", r)
	}
	// Encrypt takes no tag.
	if err := r.Decode(v, kmip.OperationEncrypt); !errors.Is(err, kmip.ErrInvalidField) {
		t.Fatalf("Encrypt with a tag: %v", err)
	}
	// Hash takes no Unique Identifier.
	if err := r.Decode(build(t, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "x") }), kmip.OperationHash); !errors.Is(err, kmip.ErrInvalidField) {
		t.Fatalf("Hash with an identifier: %v", err)
	}
	for name, f := range map[string]func(b *ttlv.Builder){
		"twice": func(b *ttlv.Builder) {
			b.AddBytes(ttlv.TagData, []byte("a"))
			b.AddBytes(ttlv.TagData, []byte("b"))
		},
		"data and digest": func(b *ttlv.Builder) {
			b.AddBytes(ttlv.TagData, []byte("a"))
			b.AddBytes(ttlv.TagDigestedData, []byte("b"))
		},
		"mistyped": func(b *ttlv.Builder) { b.AddText(ttlv.TagData, "a") },
		"param twice": func(b *ttlv.Builder) {
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagPaddingMethod, 1)
			b.AddEnum(ttlv.TagPaddingMethod, 1)
			b.End()
		},
		"unknown param": func(b *ttlv.Builder) {
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagObjectType, 1)
			b.End()
		},
	} {
		if err := r.Decode(build(t, f), kmip.OperationSign); !errors.Is(err, kmip.ErrInvalidField) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := r.Decode(nil, kmip.OperationGet); err == nil {
		t.Fatal("Get is not a cryptographic operation")
	}
	// Signature Verify, MAC Verify.
	v = build(t, func(b *ttlv.Builder) {
		b.AddBytes(ttlv.TagDigestedData, []byte("d"))
		b.AddBytes(ttlv.TagSignatureData, []byte("s"))
		b.AddBytes(ttlv.TagCorrelationValue, []byte("cv"))
		b.AddBool(ttlv.TagFinalIndicator, true)
	})
	if err := r.Decode(v, kmip.OperationSignatureVerify); err != nil || string(r.DigestedData) != "d" ||
		string(r.SignatureData) != "s" || string(r.CorrelationValue) != "cv" || !r.Final || r.UniqueID.Kind != kmip.UniqueIDAbsent {
		t.Fatalf("Signature Verify: %v %+v", err, r)
	}
	if err := r.Decode(v, kmip.OperationMACVerify); !errors.Is(err, kmip.ErrInvalidField) {
		t.Fatalf("MAC Verify with a signature: %v", err)
	}
}

func TestCryptoParams_Merge(t *testing.T) {
	req := kmip.CryptoParams{Set: kmip.ParamPaddingMethod, PaddingMethod: kmip.PaddingMethodNone}
	key := kmip.CryptoParams{
		Set:             kmip.ParamBlockCipherMode | kmip.ParamPaddingMethod | kmip.ParamSaltLength,
		BlockCipherMode: kmip.BlockCipherModeCBC, PaddingMethod: kmip.PaddingMethodPKCS5, SaltLength: 20,
	}
	req.Merge(&key)
	if req.BlockCipherMode != kmip.BlockCipherModeCBC || req.PaddingMethod != kmip.PaddingMethodNone || req.SaltLength != 20 ||
		req.Set != key.Set {
		t.Fatalf("merged: %+v", req)
	}
}

func TestRNGAndDeriveRequests_Decode(t *testing.T) {
	var rr kmip.RNGRetrieveRequest
	if err := rr.Decode(build(t, func(b *ttlv.Builder) { b.AddInt32(ttlv.TagDataLength, 32) })); err != nil || rr.DataLength != 32 {
		t.Fatalf("RNG Retrieve: %v", err)
	}
	if err := rr.Decode(nil); !errors.Is(err, kmip.ErrInvalidMessage) {
		t.Fatalf("empty RNG Retrieve: %v", err)
	}
	var rs kmip.RNGSeedRequest
	if err := rs.Decode(build(t, func(b *ttlv.Builder) { b.AddBytes(ttlv.TagData, []byte("seed")) })); err != nil || string(rs.Data) != "seed" {
		t.Fatalf("RNG Seed: %v", err)
	}
	v := build(t, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.AddText(ttlv.TagUniqueIdentifier, "a")
		b.AddText(ttlv.TagUniqueIdentifier, "b")
		b.AddEnum(ttlv.TagDerivationMethod, uint32(kmip.DerivationMethodPBKDF2))
		b.Begin(ttlv.TagDerivationParameters)
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_256))
		b.End()
		b.AddBytes(ttlv.TagSalt, []byte("salt"))
		b.AddInt32(ttlv.TagIterationCount, 4096)
		b.End()
		b.Begin(ttlv.TagAttributes)
		b.AddInt32(ttlv.TagCryptographicLength, 128)
		b.End()
	})
	var d kmip.DeriveKeyRequest
	if err := d.Decode(v, kmip.V2_0); err != nil {
		t.Fatal(err)
	}
	if len(d.UniqueIDs) != 2 || string(d.UniqueIDs[1].Text) != "b" || d.Method != kmip.DerivationMethodPBKDF2 ||
		d.Derivation.Params.HashingAlgorithm != kmip.HashingAlgorithmSHA_256 || string(d.Derivation.Salt) != "salt" ||
		d.Derivation.IterationCount != 4096 || d.Derivation.DerivationData != nil || d.Attributes.Empty() {
		t.Fatalf("Derive Key: %+v", d)
	}
	// 1.x takes a Template-Attribute, not Attributes.
	if err := d.Decode(v, kmip.V1_4); !errors.Is(err, kmip.ErrInvalidField) {
		t.Fatalf("1.4 Derive Key with Attributes: %v", err)
	}
	// Without an identifier, the ID Placeholder.
	v = build(t, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData))
		b.AddEnum(ttlv.TagDerivationMethod, uint32(kmip.DerivationMethodHASH))
		b.Begin(ttlv.TagDerivationParameters)
		b.End()
	})
	if err := d.Decode(v, kmip.V2_1); err != nil || len(d.UniqueIDs) != 1 || d.UniqueIDs[0].Kind != kmip.UniqueIDAbsent {
		t.Fatalf("Derive Key without identifier: %v %+v", err, d.UniqueIDs)
	}
}
