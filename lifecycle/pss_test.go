package lifecycle_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/kmipd/kmipd/internal/rsapss"
	"github.com/kmipd/kmipd/internal/rsapss/rsapsstest"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// pssParams are Cryptographic Parameters for RSA-PSS with SHA-256 and
// extra.
func pssParams(extra ...fld) fld {
	return fParams(append([]fld{fAlg(kmip.CryptographicAlgorithmRSA), fPad(kmip.PaddingMethodPSS), fHash(kmip.HashingAlgorithmSHA_256)}, extra...)...)
}

func fSaltLen(n int32) fld { return fInt(ttlv.TagSaltLength, n) }
func fMGF1(h kmip.HashingAlgorithm) fld {
	return fEnum(ttlv.TagMaskGeneratorHashingAlgorithm, uint32(h))
}

// verifyBoth verifies sig over msg with key and p single-part and in two
// parts; both must answer the same.
func verifyBoth(t *testing.T, c *kmip.Client, key string, p fld, msg, sig []byte) kmip.ValidityIndicator {
	t.Helper()
	v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(key), p, fData(msg), fSig(sig)))
	it := must(t, c, kmip.OperationSignatureVerify, fUID(key), p, fData(msg[:1]), fSig(sig), fInit())
	cv := out(it, ttlv.TagCorrelationValue)
	if v2 := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(key), fData(msg[1:]), fCV(cv), fFinal())); v2 != v {
		t.Fatalf("single-part %s, multi-part %s", v, v2)
	}
	return v
}

// TestPSS_VerifyExactly verifies published RSA-PSS signatures: Valid with
// exactly their salt length and MGF1 hash, Invalid with any other, and
// without a Salt Length Valid only for a hash-long or the longest salt.
func TestPSS_VerifyExactly(t *testing.T) {
	e, c := cryptoEnv(t)
	valid, invalid := kmip.ValidityIndicatorValid, kmip.ValidityIndicatorInvalid
	salt0 := regPKCS1(t, c, unhex(rsapsstest.Salt0Key), false, verifyMask)
	misc := regPKCS1(t, c, unhex(rsapsstest.MiscKey), false, verifyMask)
	oasis := regPKCS1(t, c, unhex(oasisPub), false, verifyMask)
	oasisMsg := unhex("01020304050607080910111213141516")
	sha1, sha2 := kmip.HashingAlgorithmSHA_1, kmip.HashingAlgorithmSHA_256
	for _, tc := range []struct {
		name     string
		key      string
		msg, sig []byte
		p        fld
		want     kmip.ValidityIndicator
	}{
		{"salt 0, Salt Length 0", salt0, unhex(rsapsstest.Salt0Msg), unhex(rsapsstest.Salt0Sig), pssParams(fSaltLen(0)), valid},
		{"salt 0, Salt Length 32", salt0, unhex(rsapsstest.Salt0Msg), unhex(rsapsstest.Salt0Sig), pssParams(fSaltLen(32)), invalid},
		{"salt 0, no Salt Length", salt0, unhex(rsapsstest.Salt0Msg), unhex(rsapsstest.Salt0Sig), pssParams(), invalid},
		{"salt 32, Salt Length 0", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.Salt32Sig), pssParams(fSaltLen(0)), invalid},
		{"salt 32, Salt Length 32", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.Salt32Sig), pssParams(fSaltLen(32)), valid},
		{"salt 32, Salt Length 31", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.Salt32Sig), pssParams(fSaltLen(31)), invalid},
		{"salt 32, no Salt Length", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.Salt32Sig), pssParams(), valid},
		{"salt 48, no Salt Length", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.Salt48Sig), pssParams(), invalid},
		{"salt 48, Salt Length 48", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.Salt48Sig), pssParams(fSaltLen(48)), valid},
		{"salt 222 (CS-AC-M-2), no Salt Length", oasis, oasisMsg, unhex(oasisSig), pssParams(), valid},
		{"salt 222 (CS-AC-M-2), Salt Length 222", oasis, oasisMsg, unhex(oasisSig), pssParams(fSaltLen(222)), valid},
		{"salt 222 (CS-AC-M-2), Salt Length 221", oasis, oasisMsg, unhex(oasisSig), pssParams(fSaltLen(221)), invalid},
		{"MGF1-SHA-1, MGF1-SHA-1 and Salt Length 32", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.MGF1SHA1Sig), pssParams(fMGF1(sha1), fSaltLen(32)), valid},
		{"MGF1-SHA-1, MGF1-SHA-1", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.MGF1SHA1Sig), pssParams(fMGF1(sha1)), valid},
		{"MGF1-SHA-1, MGF1-SHA-1 and Salt Length 20", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.MGF1SHA1Sig), pssParams(fMGF1(sha1), fSaltLen(20)), invalid},
		{"MGF1-SHA-1, no MGF1 hash", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.MGF1SHA1Sig), pssParams(fSaltLen(32)), invalid},
		{"MGF1-SHA-1, MGF1-SHA-256", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.MGF1SHA1Sig), pssParams(fMGF1(sha2), fSaltLen(32)), invalid},
		{"salt 32, MGF1-SHA-1", misc, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.Salt32Sig), pssParams(fMGF1(sha1)), invalid},
	} {
		if got := verifyBoth(t, c, tc.key, tc.p, tc.msg, tc.sig); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// KMIP 1.4 has Salt Length and Mask Generator Hashing Algorithm too.
	c14 := e.srv.Dial(t, "alice", kmip.V1_4)
	for p, want := range map[string]kmip.ValidityIndicator{"MGF1-SHA-1": valid, "": invalid} {
		ps := pssParams(fSaltLen(32))
		if p != "" {
			ps = pssParams(fMGF1(sha1), fSaltLen(32))
		}
		if v := verifyBoth(t, c14, misc, ps, unhex(rsapsstest.MiscMsg), unhex(rsapsstest.MGF1SHA1Sig)); v != want {
			t.Errorf("KMIP 1.4, %q: %s, want %s", p, v, want)
		}
	}
	// Digested Data too.
	d := sha256.Sum256(unhex(rsapsstest.MiscMsg))
	for p, want := range map[string]kmip.ValidityIndicator{"": valid, "salt 20": invalid} {
		ps := pssParams(fMGF1(sha1))
		if p != "" {
			ps = pssParams(fMGF1(sha1), fSaltLen(20))
		}
		if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(misc), ps, fDigest(d[:]), fSig(unhex(rsapsstest.MGF1SHA1Sig)))); v != want {
			t.Errorf("Digested Data, MGF1-SHA-1 %s: %s, want %s", p, v, want)
		}
	}
	// Mask Generator other than MGF1 and a bad Salt Length are refused.
	fails(t, c, kmip.OperationSignatureVerify, kmip.ResultReasonUnsupportedCryptographicParameters, fUID(misc),
		pssParams(fEnum(ttlv.TagMaskGenerator, 2)), fData(unhex(rsapsstest.MiscMsg)), fSig(unhex(rsapsstest.Salt32Sig)))
	fails(t, c, kmip.OperationSignatureVerify, kmip.ResultReasonBadCryptographicParameters, fUID(misc),
		pssParams(fSaltLen(-1)), fData(unhex(rsapsstest.MiscMsg)), fSig(unhex(rsapsstest.Salt32Sig)))
}

// TestPSS_SignExactly signs with the salt length and MGF1 hash asked for,
// single-part and multi-part; the signatures are checked with crypto/rsa
// where it can, else with internal/rsapss (known-answer tested), and
// kmipd's own Signature Verify agrees.
func TestPSS_SignExactly(t *testing.T) {
	_, c := cryptoEnv(t)
	rk := testRSAKey()
	priv := regAsym(t, c, rk, true, signMask)
	pub := regAsym(t, c, &rk.PublicKey, false, verifyMask)
	msg := []byte("a message signed with exact PSS parameters")
	d := sha256.Sum256(msg)
	sign := func(p fld) []byte {
		t.Helper()
		sig := out(must(t, c, kmip.OperationSign, fUID(priv), p, fData(msg)), ttlv.TagSignatureData)
		it := must(t, c, kmip.OperationSign, fUID(priv), p, fData(msg[:5]), fInit())
		cv := out(it, ttlv.TagCorrelationValue)
		sig2 := out(must(t, c, kmip.OperationSign, fUID(priv), fData(msg[5:]), fCV(cv), fFinal()), ttlv.TagSignatureData)
		for _, s := range [][]byte{sig, sig2} {
			if v := verifyBoth(t, c, pub, p, msg, s); v != kmip.ValidityIndicatorValid {
				t.Fatalf("kmipd does not verify its own signature: %s", v)
			}
		}
		return sig2
	}
	exact := func(sig []byte, mgf crypto.Hash, salt int) bool {
		return rsapss.Verify(&rk.PublicKey, crypto.SHA256, mgf, d[:], sig, salt) == nil
	}

	// Salt Length 0: no salt, so the same signature every time, which
	// crypto/rsa (reading any salt length) accepts; rsapss finds no salt.
	s0 := sign(pssParams(fSaltLen(0)))
	if s0b := sign(pssParams(fSaltLen(0))); !bytes.Equal(s0, s0b) {
		t.Fatal("two signatures with Salt Length 0 differ: a salt was used")
	}
	if err := rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, d[:], s0, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
		t.Fatalf("Salt Length 0: %v", err)
	}
	if !exact(s0, crypto.SHA256, 0) || exact(s0, crypto.SHA256, 32) {
		t.Fatal("Salt Length 0: the signature does not have an empty salt")
	}
	if v := verifyBoth(t, c, pub, pssParams(), msg, s0); v != kmip.ValidityIndicatorInvalid {
		t.Fatalf("a salt-less signature verified without Salt Length: %s", v)
	}
	// Salt Length 20 and none (32, the hash length), checked by crypto/rsa.
	for p, salt := range map[string]int{"20": 20, "none": 32} {
		ps := pssParams()
		if p == "20" {
			ps = pssParams(fSaltLen(20))
		}
		sig := sign(ps)
		if err := rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: salt}); err != nil {
			t.Fatalf("Salt Length %s: no %d-byte salt: %v", p, salt, err)
		}
	}
	// MGF1-SHA-1 with SHA-256, with the default and an empty salt.
	if sig := sign(pssParams(fMGF1(kmip.HashingAlgorithmSHA_1))); !exact(sig, crypto.SHA1, 32) || exact(sig, crypto.SHA256, 32) {
		t.Fatal("MGF1-SHA-1: not a signature with MGF1-SHA-1 and a 32-byte salt")
	}
	if sig := sign(pssParams(fMGF1(kmip.HashingAlgorithmSHA_1), fSaltLen(0))); !exact(sig, crypto.SHA1, 0) {
		t.Fatal("MGF1-SHA-1, Salt Length 0: not a signature with MGF1-SHA-1 and no salt")
	}
	// A salt longer than the key allows is refused.
	fails(t, c, kmip.OperationSign, kmip.ResultReasonCryptographicFailure, fUID(priv), pssParams(fSaltLen(223)), fData(msg))
}
