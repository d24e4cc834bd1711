package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm/pkcs11/softhsmtest"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// testHSMCrypto encrypts, decrypts and MACs with a key held by the HSM:
// kmipd does it inside the HSM, so a Sensitive key keeps working; what the
// HSM cannot do runs in Go only while the key may leave the HSM.
func testHSMCrypto(t *testing.T, env *softhsmtest.Env) {
	t.Setenv(envPKCS11PIN, softhsmtest.UserPIN)
	dir := filepath.Join(t.TempDir(), "kmipd")
	_, err := runCLI("init", "--dir", dir, "--hsm", "pkcs11", "--pkcs11-module", env.Module,
		"--pkcs11-token", hsmTokenF, "--pkcs11-kek-label", "crypto")
	skipNoCgo(t, err)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, srv.addr)
	_, it, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 256)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt|
			kmip.CryptographicUsageMaskMACGenerate|kmip.CryptographicUsageMaskMACVerify))
		b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := createdID(it)
	if err != nil {
		t.Fatal(err)
	}
	// Not Sensitive yet: the test may read the key to check the results.
	key, err := getKey(c, id)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	type params struct {
		mode kmip.BlockCipherMode
		pad  bool
	}
	setParams := func(b *ttlv.Builder, p params) {
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagBlockCipherMode, uint32(p.mode))
		if p.pad {
			b.AddEnum(ttlv.TagPaddingMethod, uint32(kmip.PaddingMethodPKCS5))
		}
		b.End()
	}
	field := func(it *kmip.ResponseItem, tag ttlv.Tag) []byte {
		v, ok := it.Payload.Find(tag)
		if !ok {
			return nil
		}
		return v.Data
	}
	encrypt := func(p params, data []byte) (ct, iv, tag []byte, err error) {
		_, it, err := c.Do(kmip.OperationEncrypt, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			setParams(b, p)
			b.AddBytes(ttlv.TagData, data)
		})
		if err != nil {
			return nil, nil, nil, err
		}
		return field(it, ttlv.TagData), field(it, ttlv.TagIVCounterNonce), field(it, ttlv.TagAuthenticatedEncryptionTag), nil
	}
	decrypt := func(p params, data, iv, tag []byte) ([]byte, error) {
		_, it, err := c.Do(kmip.OperationDecrypt, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			setParams(b, p)
			b.AddBytes(ttlv.TagData, data)
			if iv != nil {
				b.AddBytes(ttlv.TagIVCounterNonce, iv)
			}
			if tag != nil {
				b.AddBytes(ttlv.TagAuthenticatedEncryptionTag, tag)
			}
		})
		if err != nil {
			return nil, err
		}
		return field(it, ttlv.TagData), nil
	}
	wantReason := func(err error, r kmip.ResultReason, what string) {
		t.Helper()
		var ke *kmip.Error
		if !errors.As(err, &ke) || ke.Reason != r {
			t.Fatalf("%s: %v, want %s", what, err, r)
		}
	}
	msg := []byte("a message of 29 bytes or so..")
	gcm := params{mode: kmip.BlockCipherModeGCM}
	cbc := params{mode: kmip.BlockCipherModeCBC, pad: true}
	ecb := params{mode: kmip.BlockCipherModeECB, pad: true}
	roundTrips := func(what string) {
		t.Helper()
		for _, p := range []params{gcm, cbc, ecb} {
			ct, iv, tag, err := encrypt(p, msg)
			if err != nil {
				t.Fatalf("%s: Encrypt %s: %v", what, p.mode, err)
			}
			pt, err := decrypt(p, ct, iv, tag)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("%s: Decrypt %s: %q, %v", what, p.mode, pt, err)
			}
		}
	}
	roundTrips("extractable key")

	// The HSM's results are AES's.
	ct, iv, tag, err := encrypt(gcm, msg)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cipher.NewGCM(blk)
	if want := a.Seal(nil, iv, msg, nil); !bytes.Equal(append(ct, tag...), want) {
		t.Fatalf("GCM: kmipd %x ‖ %x, Go %x", ct, tag, want)
	}
	bad := append([]byte(nil), tag...)
	bad[0] ^= 1
	_, err = decrypt(gcm, ct, iv, bad)
	wantReason(err, kmip.ResultReasonCryptographicFailure, "Decrypt with a bad tag")
	ct, iv, _, err = encrypt(cbc, msg)
	if err != nil {
		t.Fatal(err)
	}
	padded := append(append([]byte(nil), msg...), bytes.Repeat([]byte{3}, 3)...)
	want := make([]byte, len(padded))
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(want, padded)
	if !bytes.Equal(ct, want) {
		t.Fatalf("CBC-PKCS5: kmipd %x, Go %x", ct, want)
	}
	mac := func(p func(b *ttlv.Builder)) ([]byte, error) {
		_, it, err := c.Do(kmip.OperationMAC, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			p(b)
			b.AddBytes(ttlv.TagData, msg)
		})
		if err != nil {
			return nil, err
		}
		return field(it, ttlv.TagMACData), nil
	}
	hmacSHA256 := func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmHMAC_SHA256))
		b.End()
	}
	got, err := mac(hmacSHA256)
	if err != nil {
		t.Fatalf("MAC: %v", err)
	}
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	if want := h.Sum(nil); !bytes.Equal(got, want) {
		t.Fatalf("HMAC-SHA256: kmipd %x, Go %x", got, want)
	}
	_, it, err = c.Do(kmip.OperationMACVerify, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		hmacSHA256(b)
		b.AddBytes(ttlv.TagData, msg)
		b.AddBytes(ttlv.TagMACData, got)
	})
	if err != nil {
		t.Fatalf("MAC Verify: %v", err)
	}
	if v, ok := it.Payload.Find(ttlv.TagValidityIndicator); !ok || v.Uint32() != uint32(kmip.ValidityIndicatorValid) {
		t.Fatalf("MAC Verify: %s", ttlv.Format(it.Payload))
	}

	// What the HSM cannot do runs in Go while a client could Get the key
	// anyway (not Sensitive, Extractable); refused once it is Sensitive.
	cmac := func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeCMAC))
		b.End()
	}
	if tag, err := mac(cmac); err != nil || len(tag) != 16 {
		t.Fatalf("CMAC with a non-Sensitive HSM key (in Go): %x, %v", tag, err)
	}
	streamInit := func() error {
		_, _, err := c.Do(kmip.OperationEncrypt, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			setParams(b, cbc)
			b.AddBool(ttlv.TagInitIndicator, true)
			b.AddBytes(ttlv.TagData, msg)
		})
		return err
	}
	if err := streamInit(); err != nil {
		t.Fatalf("multi-part Encrypt with a non-Sensitive HSM key (in Go): %v", err)
	}

	// A Sensitive key is used inside the HSM as before.
	if _, _, err := c.Do(kmip.OperationSetAttribute, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.Begin(ttlv.TagNewAttribute)
		b.AddBool(ttlv.TagSensitive, true)
		b.End()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := getKey(c, id); !isKMIPError(err) {
		t.Fatalf("plain Get of a Sensitive key: %v", err)
	}
	roundTrips("Sensitive key")
	if got2, err := mac(hmacSHA256); err != nil || !bytes.Equal(got2, got) {
		t.Fatalf("MAC with a Sensitive key: %x, %v", got2, err)
	}

	// What the HSM cannot do is refused now, not done in Go.
	_, err = mac(cmac)
	wantReason(err, kmip.ResultReasonFeatureNotSupported, "CMAC with a Sensitive HSM key")
	wantReason(streamInit(), kmip.ResultReasonFeatureNotSupported, "multi-part Encrypt with a Sensitive HSM key")
}
