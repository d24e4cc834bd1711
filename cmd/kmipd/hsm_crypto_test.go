package main

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm/pkcs11/softhsmtest"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// testHSMCrypto encrypts, decrypts, MACs and signs with keys held by the HSM:
// kmipd does it inside the HSM, so a Sensitive key keeps working; what the
// HSM cannot do runs in Go only while the key may leave the HSM.
func testHSMCrypto(t *testing.T, env *softhsmtest.Env) {
	dir, cfg := initPKCS11(t, env, hsmTokenF, "crypto")
	cfg.AdminAddr = freePort(t)
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, srv.addr)
	usedInGo := func() float64 {
		t.Helper()
		resp, err := http.Get("http://" + cfg.AdminAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "kmipd_hsm_keys_used_in_go_total ") {
			t.Fatalf("no kmipd_hsm_keys_used_in_go_total in /metrics")
		}
		return metricValue(t, string(body), "kmipd_hsm_keys_used_in_go_total")
	}
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
	if tag, err := mac(cmac); err != nil || !bytes.Equal(tag, aesCMAC(blk, msg)) {
		t.Fatalf("CMAC with a non-Sensitive HSM key: %x, %v", tag, err)
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
	before := usedInGo()
	if err := streamInit(); err != nil {
		t.Fatalf("multi-part Encrypt with a non-Sensitive HSM key (in Go): %v", err)
	}
	if after := usedInGo(); after != before+1 {
		t.Errorf("kmipd_hsm_keys_used_in_go_total %v → %v, want one more", before, after)
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

	// AES-CMAC runs inside the HSM too. The test's CMAC is RFC 4493's.
	rfcKey, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	rfcBlk, _ := aes.NewCipher(rfcKey)
	rfcMsg, _ := hex.DecodeString("6bc1bee22e409f96e93d7e117393172a")
	if got := hex.EncodeToString(aesCMAC(rfcBlk, nil)); got != "bb1d6929e95937287fa37d129b756746" {
		t.Fatalf("test CMAC of the empty message: %s", got)
	}
	if got := hex.EncodeToString(aesCMAC(rfcBlk, rfcMsg)); got != "070a16b46b4d4144f79bdd9dd04a287c" {
		t.Fatalf("test CMAC of one block: %s", got)
	}
	if tag, err := mac(cmac); err != nil || !bytes.Equal(tag, aesCMAC(blk, msg)) {
		t.Fatalf("CMAC with a Sensitive HSM key: %x, %v, want %x", tag, err, aesCMAC(blk, msg))
	}

	// What the HSM cannot do is refused now, not done in Go.
	wantReason(streamInit(), kmip.ResultReasonFeatureNotSupported, "multi-part Encrypt with a Sensitive HSM key")

	testHSMKeyPairs(t, c, wantReason)

	// hsm.strict: what the HSM cannot do is refused even for a key a client
	// could Get; the Get itself, and what the HSM does, still work.
	if err := srv.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	cfg.HSM.Strict = true
	srv = serveInProcess(t, cfg)
	c = dialKMIP(t, dir, srv.addr)
	_, it, err = c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 256)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
		b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	if id, err = createdID(it); err != nil {
		t.Fatal(err)
	}
	if _, err := getKey(c, id); err != nil {
		t.Fatalf("strict: Get of an Extractable HSM key: %v", err)
	}
	wantReason(streamInit(), kmip.ResultReasonFeatureNotSupported, "strict: multi-part Encrypt with an Extractable HSM key")
	if _, _, err := c.Do(kmip.OperationEncrypt, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		setParams(b, cbc)
		b.AddBytes(ttlv.TagIVCounterNonce, make([]byte, 16))
		b.AddBytes(ttlv.TagData, msg)
	}); err != nil {
		t.Fatalf("strict: single-part CBC inside the HSM: %v", err)
	}
}

// testHSMKeyPairs signs and decrypts with Sensitive private keys the HSM
// holds; the results are checked in Go with the public keys.
func testHSMKeyPairs(t *testing.T, c *kmip.Client, wantReason func(error, kmip.ResultReason, string)) {
	t.Helper()
	field := func(it *kmip.ResponseItem, tag ttlv.Tag) []byte {
		v, ok := it.Payload.Find(tag)
		if !ok {
			return nil
		}
		return v.Data
	}
	createPair := func(alg kmip.CryptographicAlgorithm, bits int32, privMask kmip.CryptographicUsageMask) (priv, pub string) {
		t.Helper()
		_, it, err := c.Do(kmip.OperationCreateKeyPair, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagCommonAttributes)
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(alg))
			b.AddInt32(ttlv.TagCryptographicLength, bits)
			b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
			b.End()
			b.Begin(ttlv.TagPrivateKeyAttributes)
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(privMask))
			b.End()
			b.Begin(ttlv.TagPublicKeyAttributes)
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskVerify|kmip.CryptographicUsageMaskEncrypt))
			b.End()
		})
		if err != nil {
			t.Fatalf("Create Key Pair %s-%d: %v", alg, bits, err)
		}
		priv, pub = string(field(it, ttlv.TagPrivateKeyUniqueIdentifier)), string(field(it, ttlv.TagPublicKeyUniqueIdentifier))
		if priv == "" || pub == "" {
			t.Fatalf("Create Key Pair: %s", ttlv.Format(it.Payload))
		}
		if _, _, err := c.Do(kmip.OperationSetAttribute, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, priv)
			b.Begin(ttlv.TagNewAttribute)
			b.AddBool(ttlv.TagSensitive, true)
			b.End()
		}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := getMaterial(c, priv); !isKMIPError(err) {
			t.Fatalf("plain Get of a Sensitive private key: %v", err)
		}
		return priv, pub
	}
	publicKey := func(id string) crypto.PublicKey {
		t.Helper()
		_, kft, der, err := getMaterial(c, id)
		if err != nil {
			t.Fatal(err)
		}
		if kft == kmip.KeyFormatTypePKCS_1 {
			k, err := x509.ParsePKCS1PublicKey(der)
			if err != nil {
				t.Fatalf("public key in format %s: %v", kft, err)
			}
			return k
		}
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatalf("public key in format %s: %v", kft, err)
		}
		return k
	}
	type sigParams struct {
		pad  kmip.PaddingMethod
		hash kmip.HashingAlgorithm
	}
	sign := func(id string, p sigParams, data []byte, digested bool) ([]byte, error) {
		_, it, err := c.Do(kmip.OperationSign, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			if p != (sigParams{}) {
				b.Begin(ttlv.TagCryptographicParameters)
				if p.pad != 0 {
					b.AddEnum(ttlv.TagPaddingMethod, uint32(p.pad))
				}
				if p.hash != 0 {
					b.AddEnum(ttlv.TagHashingAlgorithm, uint32(p.hash))
				}
				b.End()
			}
			if digested {
				b.AddBytes(ttlv.TagDigestedData, data)
			} else {
				b.AddBytes(ttlv.TagData, data)
			}
		})
		if err != nil {
			return nil, err
		}
		return field(it, ttlv.TagSignatureData), nil
	}
	msg := []byte("a message to sign inside the HSM")
	digest := sha256.Sum256(msg)

	// RSA-2048: PKCS#1 v1.5 and PSS signatures, PKCS#1 v1.5 and OAEP
	// decryption.
	priv, pubID := createPair(kmip.CryptographicAlgorithmRSA, 2048,
		kmip.CryptographicUsageMaskSign|kmip.CryptographicUsageMaskDecrypt)
	rsaPub := publicKey(pubID).(*rsa.PublicKey)
	pkcs1 := sigParams{kmip.PaddingMethodPKCS1V1_5, kmip.HashingAlgorithmSHA_256}
	pss := sigParams{kmip.PaddingMethodPSS, kmip.HashingAlgorithmSHA_256}
	for _, digested := range []bool{false, true} {
		data := msg
		if digested {
			data = digest[:]
		}
		sig, err := sign(priv, pkcs1, data, digested)
		if err != nil {
			t.Fatalf("RSA PKCS#1 v1.5 Sign (digested %v): %v", digested, err)
		}
		if err := rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("RSA PKCS#1 v1.5 signature (digested %v): %v", digested, err)
		}
		sig, err = sign(priv, pss, data, digested)
		if err != nil {
			t.Fatalf("RSA-PSS Sign (digested %v): %v", digested, err)
		}
		// The salt is as long as the hash, as kmipd signs in Go.
		if err := rsa.VerifyPSS(rsaPub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Fatalf("RSA-PSS signature (digested %v): %v", digested, err)
		}
	}
	rsaDecrypt := func(pad kmip.PaddingMethod, ct []byte) ([]byte, error) {
		_, it, err := c.Do(kmip.OperationDecrypt, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, priv)
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagPaddingMethod, uint32(pad))
			if pad == kmip.PaddingMethodOAEP {
				b.AddEnum(ttlv.TagHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_1))
			}
			b.End()
			b.AddBytes(ttlv.TagData, ct)
		})
		if err != nil {
			return nil, err
		}
		return field(it, ttlv.TagData), nil
	}
	secret := []byte("a secret for the HSM's RSA key")
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, rsaPub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rsaDecrypt(kmip.PaddingMethodOAEP, ct); err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("RSA-OAEP Decrypt: %q, %v", pt, err)
	}
	ct[5] ^= 1
	_, err = rsaDecrypt(kmip.PaddingMethodOAEP, ct)
	wantReason(err, kmip.ResultReasonCryptographicFailure, "RSA-OAEP Decrypt of a damaged ciphertext")
	//lint:ignore SA1019 clients ask for PKCS#1 v1.5 encryption.
	ct, err = rsa.EncryptPKCS1v15(rand.Reader, rsaPub, secret)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rsaDecrypt(kmip.PaddingMethodPKCS1V1_5, ct); err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("RSA PKCS#1 v1.5 Decrypt: %q, %v", pt, err)
	}
	// A bad padding gives a synthetic message, the same every time.
	ct[5] ^= 1
	bad1, err := rsaDecrypt(kmip.PaddingMethodPKCS1V1_5, ct)
	if err != nil || bytes.Equal(bad1, secret) {
		t.Fatalf("RSA PKCS#1 v1.5 Decrypt of a damaged ciphertext: %q, %v", bad1, err)
	}
	if bad2, err := rsaDecrypt(kmip.PaddingMethodPKCS1V1_5, ct); err != nil || !bytes.Equal(bad1, bad2) {
		t.Fatalf("implicit rejection is not deterministic: %x, %x, %v", bad1, bad2, err)
	}

	// EC P-256: ECDSA with SHA-256, on Data and on Digested Data.
	priv, pubID = createPair(kmip.CryptographicAlgorithmEC, 256, kmip.CryptographicUsageMaskSign)
	ecPub := publicKey(pubID).(*ecdsa.PublicKey)
	for _, digested := range []bool{false, true} {
		data := msg
		if digested {
			data = digest[:]
		}
		sig, err := sign(priv, sigParams{hash: kmip.HashingAlgorithmSHA_256}, data, digested)
		if err != nil {
			t.Fatalf("ECDSA Sign (digested %v): %v", digested, err)
		}
		if !ecdsa.VerifyASN1(ecPub, digest[:], sig) {
			t.Fatalf("ECDSA signature (digested %v) %x does not verify", digested, sig)
		}
	}
	// The default hash of P-256 is SHA-256.
	sig, err := sign(priv, sigParams{}, msg, false)
	if err != nil || !ecdsa.VerifyASN1(ecPub, digest[:], sig) {
		t.Fatalf("ECDSA Sign with the default parameters: %x, %v", sig, err)
	}
	// Multi-part: kmipd hashes the parts, the HSM signs at the end.
	_, it, err := c.Do(kmip.OperationSign, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, priv)
		b.AddBytes(ttlv.TagData, msg[:10])
		b.AddBool(ttlv.TagInitIndicator, true)
	})
	if err != nil {
		t.Fatalf("multi-part ECDSA Sign: %v", err)
	}
	cv := field(it, ttlv.TagCorrelationValue)
	if _, it, err = c.Do(kmip.OperationSign, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, priv)
		b.AddBytes(ttlv.TagData, msg[10:])
		b.AddBytes(ttlv.TagCorrelationValue, cv)
		b.AddBool(ttlv.TagFinalIndicator, true)
	}); err != nil {
		t.Fatalf("multi-part ECDSA Sign, last part: %v", err)
	}
	if sig := field(it, ttlv.TagSignatureData); !ecdsa.VerifyASN1(ecPub, digest[:], sig) {
		t.Fatalf("multi-part ECDSA signature %x does not verify", sig)
	}
}

// aesCMAC is AES-CMAC (RFC 4493), independent of kmipd's.
func aesCMAC(blk cipher.Block, msg []byte) []byte {
	dbl := func(b []byte) []byte {
		out := make([]byte, 16)
		for i := 0; i < 15; i++ {
			out[i] = b[i]<<1 | b[i+1]>>7
		}
		out[15] = b[15] << 1
		if b[0]&0x80 != 0 {
			out[15] ^= 0x87
		}
		return out
	}
	l := make([]byte, 16)
	blk.Encrypt(l, l)
	k1 := dbl(l)
	k2 := dbl(k1)
	n := (len(msg) + 15) / 16
	last := make([]byte, 16)
	if n > 0 && len(msg)%16 == 0 {
		copy(last, msg[(n-1)*16:])
		subtle.XORBytes(last, last, k1)
	} else {
		if n == 0 {
			n = 1
		}
		rest := msg[(n-1)*16:]
		copy(last, rest)
		last[len(rest)] = 0x80
		subtle.XORBytes(last, last, k2)
	}
	x := make([]byte, 16)
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x, x, msg[i*16:(i+1)*16])
		blk.Encrypt(x, x)
	}
	subtle.XORBytes(x, x, last)
	blk.Encrypt(x, x)
	return x
}
