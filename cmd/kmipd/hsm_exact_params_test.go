package main

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm/pkcs11/softhsmtest"
	"github.com/kmipd/kmipd/internal/rsapss"
	"github.com/kmipd/kmipd/internal/rsapss/rsapsstest"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// pssOpts are the RSA-PSS parameters of a request: SHA-256, and a Salt
// Length and Mask Generator Hashing Algorithm when set.
type pssOpts struct {
	salt int32 // -1: none
	mgf  kmip.HashingAlgorithm
}

func (p pssOpts) add(b *ttlv.Builder) {
	b.Begin(ttlv.TagCryptographicParameters)
	b.AddEnum(ttlv.TagPaddingMethod, uint32(kmip.PaddingMethodPSS))
	b.AddEnum(ttlv.TagHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_256))
	if p.salt >= 0 {
		b.AddInt32(ttlv.TagSaltLength, p.salt)
	}
	if p.mgf != 0 {
		b.AddEnum(ttlv.TagMaskGeneratorHashingAlgorithm, uint32(p.mgf))
	}
	b.End()
}

// testHSMExactParams signs RSA-PSS with a private key the HSM holds, with
// the salt length and MGF1 hash asked for (or refuses where SoftHSM cannot
// and the key may not leave it), verifies published RSA-PSS vectors, and
// verifies truncated HMACs made inside the HSM.
func testHSMExactParams(t *testing.T, env *softhsmtest.Env) {
	dir, cfg := initPKCS11(t, env, hsmTokenG, "exact")
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, srv.addr)
	field := func(it *kmip.ResponseItem, tag ttlv.Tag) []byte {
		if v, ok := it.Payload.Find(tag); ok {
			return v.Data
		}
		return nil
	}
	wantReason := func(err error, r kmip.ResultReason, what string) {
		t.Helper()
		var ke *kmip.Error
		if !errors.As(err, &ke) || ke.Reason != r {
			t.Fatalf("%s: %v, want %s", what, err, r)
		}
	}
	setSensitive := func(id string) {
		t.Helper()
		if _, _, err := c.Do(kmip.OperationSetAttribute, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.Begin(ttlv.TagNewAttribute)
			b.AddBool(ttlv.TagSensitive, true)
			b.End()
		}); err != nil {
			t.Fatal(err)
		}
	}
	validity := func(it *kmip.ResponseItem) kmip.ValidityIndicator {
		t.Helper()
		v, ok := it.Payload.Find(ttlv.TagValidityIndicator)
		if !ok {
			t.Fatalf("no Validity Indicator: %s", ttlv.Format(it.Payload))
		}
		return kmip.ValidityIndicator(v.Uint32())
	}

	// An RSA key pair made in the HSM.
	_, it, err := c.Do(kmip.OperationCreateKeyPair, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCommonAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA))
		b.AddInt32(ttlv.TagCryptographicLength, 2048)
		b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		b.End()
		b.Begin(ttlv.TagPrivateKeyAttributes)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskSign))
		b.End()
		b.Begin(ttlv.TagPublicKeyAttributes)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskVerify))
		b.End()
	})
	if err != nil {
		t.Fatalf("Create Key Pair: %v", err)
	}
	priv, pubID := string(field(it, ttlv.TagPrivateKeyUniqueIdentifier)), string(field(it, ttlv.TagPublicKeyUniqueIdentifier))
	_, kft, der, err := getMaterial(c, pubID)
	if err != nil {
		t.Fatal(err)
	}
	var pub *rsa.PublicKey
	if kft == kmip.KeyFormatTypePKCS_1 {
		pub, err = x509.ParsePKCS1PublicKey(der)
	} else {
		var k any
		k, err = x509.ParsePKIXPublicKey(der)
		pub, _ = k.(*rsa.PublicKey)
	}
	if err != nil || pub == nil {
		t.Fatalf("public key in format %s: %v", kft, err)
	}
	msg := []byte("a message for RSA-PSS inside the HSM")
	digest := sha256.Sum256(msg)
	// sign signs single-part and multi-part; both signatures are returned.
	sign := func(p pssOpts) ([2][]byte, error) {
		var sigs [2][]byte
		_, it, err := c.Do(kmip.OperationSign, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, priv)
			p.add(b)
			b.AddBytes(ttlv.TagData, msg)
		})
		if err != nil {
			return sigs, err
		}
		sigs[0] = field(it, ttlv.TagSignatureData)
		_, it, err = c.Do(kmip.OperationSign, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, priv)
			p.add(b)
			b.AddBytes(ttlv.TagData, msg[:9])
			b.AddBool(ttlv.TagInitIndicator, true)
		})
		if err != nil {
			return sigs, err
		}
		cv := field(it, ttlv.TagCorrelationValue)
		_, it, err = c.Do(kmip.OperationSign, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, priv)
			b.AddBytes(ttlv.TagData, msg[9:])
			b.AddBytes(ttlv.TagCorrelationValue, cv)
			b.AddBool(ttlv.TagFinalIndicator, true)
		})
		if err != nil {
			return sigs, err
		}
		sigs[1] = field(it, ttlv.TagSignatureData)
		return sigs, nil
	}
	kmipdVerify := func(key string, p pssOpts, msg, sig []byte) kmip.ValidityIndicator {
		t.Helper()
		_, it, err := c.Do(kmip.OperationSignatureVerify, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, key)
			p.add(b)
			b.AddBytes(ttlv.TagData, msg)
			b.AddBytes(ttlv.TagSignatureData, sig)
		})
		if err != nil {
			t.Fatalf("Signature Verify: %v", err)
		}
		return validity(it)
	}
	exact := func(sig []byte, mgf crypto.Hash, salt int) bool {
		return rsapss.Verify(pub, crypto.SHA256, mgf, digest[:], sig, salt) == nil
	}
	mgf1SHA1 := pssOpts{salt: -1, mgf: kmip.HashingAlgorithmSHA_1}

	// Not Sensitive yet: MGF1-SHA-1, which SoftHSM refuses, runs in Go.
	sigs, err := sign(mgf1SHA1)
	if err != nil {
		t.Fatalf("MGF1-SHA-1 with a non-Sensitive HSM key (in Go): %v", err)
	}
	for _, s := range sigs {
		if !exact(s, crypto.SHA1, 32) {
			t.Fatal("MGF1-SHA-1 in Go: not a signature with MGF1-SHA-1 and a 32-byte salt")
		}
	}

	// Sensitive: inside the HSM, with the exact salt length.
	setSensitive(priv)
	for _, tc := range []struct {
		salt, want int32
	}{{0, 0}, {20, 20}, {-1, 32}} {
		p := pssOpts{salt: tc.salt}
		sigs, err := sign(p)
		if err != nil {
			t.Fatalf("Salt Length %d in the HSM: %v", tc.salt, err)
		}
		for _, s := range sigs {
			if !exact(s, crypto.SHA256, int(tc.want)) || exact(s, crypto.SHA256, int(tc.want)+1) {
				t.Fatalf("Salt Length %d in the HSM: not a %d-byte salt", tc.salt, tc.want)
			}
			if v := kmipdVerify(pubID, p, msg, s); v != kmip.ValidityIndicatorValid {
				t.Fatalf("Salt Length %d: kmipd's Signature Verify says %s", tc.salt, v)
			}
		}
		if tc.salt == 0 {
			if !bytes.Equal(sigs[0], sigs[1]) {
				t.Fatal("Salt Length 0 in the HSM: two signatures differ")
			}
			if v := kmipdVerify(pubID, pssOpts{salt: -1}, msg, sigs[0]); v != kmip.ValidityIndicatorInvalid {
				t.Fatalf("a salt-less signature verified without Salt Length: %s", v)
			}
		}
	}
	// SoftHSM cannot use another MGF1 hash, and the key may not leave it.
	_, err = sign(mgf1SHA1)
	wantReason(err, kmip.ResultReasonFeatureNotSupported, "MGF1-SHA-1 with a Sensitive HSM key")

	// Published vectors (Project Wycheproof, internal/rsapss/rsapsstest)
	// verify on this backend too.
	register := func(hexKey string) string {
		t.Helper()
		key, _ := hex.DecodeString(hexKey)
		_, it, err := c.Do(kmip.OperationRegister, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypePublicKey))
			b.Begin(ttlv.TagAttributes)
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskVerify))
			b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
			b.End()
			b.Begin(ttlv.TagPublicKey)
			b.Begin(ttlv.TagKeyBlock)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_1))
			b.Begin(ttlv.TagKeyValue)
			b.AddBytes(ttlv.TagKeyMaterial, key)
			b.End()
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA))
			b.AddInt32(ttlv.TagCryptographicLength, 2048)
			b.End()
			b.End()
		})
		if err != nil {
			t.Fatalf("Register: %v", err)
		}
		return string(field(it, ttlv.TagUniqueIdentifier))
	}
	unhex := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	salt0, misc := register(rsapsstest.Salt0Key), register(rsapsstest.MiscKey)
	for _, tc := range []struct {
		name     string
		key      string
		p        pssOpts
		msg, sig string
		want     kmip.ValidityIndicator
	}{
		{"salt 0 with Salt Length 0", salt0, pssOpts{salt: 0}, rsapsstest.Salt0Msg, rsapsstest.Salt0Sig, kmip.ValidityIndicatorValid},
		{"salt 0 without Salt Length", salt0, pssOpts{salt: -1}, rsapsstest.Salt0Msg, rsapsstest.Salt0Sig, kmip.ValidityIndicatorInvalid},
		{"salt 48 without Salt Length", misc, pssOpts{salt: -1}, rsapsstest.MiscMsg, rsapsstest.Salt48Sig, kmip.ValidityIndicatorInvalid},
		{"salt 48 with Salt Length 48", misc, pssOpts{salt: 48}, rsapsstest.MiscMsg, rsapsstest.Salt48Sig, kmip.ValidityIndicatorValid},
		{"MGF1-SHA-1", misc, mgf1SHA1, rsapsstest.MiscMsg, rsapsstest.MGF1SHA1Sig, kmip.ValidityIndicatorValid},
		{"MGF1-SHA-1 read as MGF1-SHA-256", misc, pssOpts{salt: 32}, rsapsstest.MiscMsg, rsapsstest.MGF1SHA1Sig, kmip.ValidityIndicatorInvalid},
	} {
		if v := kmipdVerify(tc.key, tc.p, unhex(tc.msg), unhex(tc.sig)); v != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, v, tc.want)
		}
	}

	// Truncated HMAC-SHA-256 tags of a MAC made inside the HSM.
	_, it, err = c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmHMAC_SHA256))
		b.AddInt32(ttlv.TagCryptographicLength, 256)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskMACGenerate|kmip.CryptographicUsageMaskMACVerify))
		b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	macKey, err := createdID(it)
	if err != nil {
		t.Fatal(err)
	}
	key, err := getKey(c, macKey)
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	full := h.Sum(nil)
	setSensitive(macKey)
	macVerify := func(tag []byte) (kmip.ValidityIndicator, error) {
		_, it, err := c.Do(kmip.OperationMACVerify, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, macKey)
			b.AddBytes(ttlv.TagData, msg)
			b.AddBytes(ttlv.TagMACData, tag)
		})
		if err != nil {
			return 0, err
		}
		return validity(it), nil
	}
	for _, n := range []int{32, 16, 8} {
		if v, err := macVerify(full[:n]); err != nil || v != kmip.ValidityIndicatorValid {
			t.Fatalf("%d-byte HMAC-SHA-256 tag in the HSM: %v, %v", n, v, err)
		}
		bad := append([]byte(nil), full[:n]...)
		bad[0] ^= 1
		if v, err := macVerify(bad); err != nil || v != kmip.ValidityIndicatorInvalid {
			t.Fatalf("wrong %d-byte tag in the HSM: %v, %v", n, v, err)
		}
	}
	_, err = macVerify(full[:7])
	wantReason(err, kmip.ResultReasonInvalidField, "a 56-bit tag")
}
