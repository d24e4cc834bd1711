package lifecycle_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/kmipd/kmipd/internal/rsapss"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Published RSA-PSS vectors from Project Wycheproof, testvectors_v1
// (github.com/C2SP/wycheproof); the keys are the files' publicKeyAsn
// (PKCS#1).
const (
	// rsa_pss_2048_sha256_mgf1_0_test.json tcId 3: SHA-256, MGF1-SHA-256,
	// no salt; message "Test".
	wpSalt0Key = "3082010a0282010100a2b451a07d0aa5f96e455671513550514a8a5b462ebef717094fa1fee82224e637f9746d3f7cafd31878d80325b6ef5a1700f65903b469429e89d6eac8845097b5ab393189db92512ed8a7711a1253facd20f79c15e8247f3d3e42e46e48c98e254a2fe9765313a03eff8f17e1a029397a1fa26a8dce26f490ed81299615d9814c22da610428e09c7d9658594266f5c021d0fceca08d945a12be82de4d1ece6b4c03145b5d3495d4ed5411eb878daf05fd7afc3e09ada0f1126422f590975a1969816f48698bcbba1b4d9cae79d460d8f9f85e7975005d9bc22c4e5ac0f7c1a45d12569a62807d3b9a02e5a530e773066f453d1f5b4c2e9cf7820283f742b9d50203010001"
	wpSalt0Msg = "54657374"
	wpSalt0Sig = "2b3155b14971f79c9e3294723c7e41ded41af709f6edb2c19f3526584aaa1ef2de2e7a8dcaf5d7c3239f604c421656dc58e8b0852f7a65cd557724a9b2a17cac38d8020e939bfefec5dce0d8993e75615b974944e4c4a811e40db63f13d2b626bf26257a706a7bedc863d0100b676ab70d4a4f6eaf4692e0b69ee4426cfe7cfc3e92d93bb804569883cf31fb282efa5a81ce9f6d9f0ed79251ef2a0b596f80e0eb96ede67e30457a07655d777928b898ed1679046673e489d9c6305dee05abfdeba7357099f9cffd00735165ddc39aa7355b10a8b8612dfa2f836fb9f5f89f1407365d6b39a39e89c6647ff9da5fc6f960306686a8ed8e2ce12cc7fd9870d576"
	// rsa_pss_misc_test.json, one key and message "123400" for all.
	wpMiscKey = "3082010a0282010100bb0d4124c20130688b8419fabecc427d946c5096dcf69ecb0eb69fcf5aed15d7e1e5fe4e34fbe26f8b244aa3f088d546a00a531464ba4b8980bcc4d5e54bcc20e1a51afa9044f7fdecbc6edb751b5a5fa7ab403a04e5f77ba7865dd6d211da0afa71262a77a63d9c06e8b00b616ca15f11ea5b4948973864183f570347570553e3878376ca4f7536ad5afac10c0a7b34a5c11f8cf16115fbaeb4b323b1ad6f75c7ec3b954891cab2611cf1768cec983c1717c57f67676d721a955bdbbc216a3345bb31d7d63e06bdac96a6b991ba1e0113d01e48c77ab327d36b426c2f8fe4825a37877425885c927e92423b6977fc304122a2c397cb74845fe9961dba22c1a70203010001"
	wpMiscMsg = "313233343030"
	// tcId 64: SHA-256, MGF1-SHA-1, 32-byte salt.
	wpMGF1SHA1Sig = "6ba6eaed9a00575e0ad5cf4ade39dbf0bc6b8f50e7d2a892d626ee6751b6a360a703904d3a11596b10473a8030ab5992dcca8932dea1eae7e3c88829702530301fd85f5be515216f23c39e70b46b256a06d392f13edb5431fd6bbe4b77445db03fb4706adb22105a7ce3c6bd1a537aa3d3bd3e264e15bb68daa88c0db01c2707a2aa7af4b055097b68e7c0e6749214478ec91f1104ef2b513a22316476de696b14090f6a3e36a562fdab5e3c682708c88017a077154fef4fb84611b9df8e3b5db55f9dcb0dd5d2d797d8117a4db392c62f432ae24facf99eddc78c41081de9ceed9f651769e44cba098babf7a78f1992a53fe318879417ff3cd8a5f04e66945c"
	// tcId 76: SHA-256, MGF1-SHA-256, 32-byte salt.
	wpSalt32Sig = "3eb30e9c91fe7f0c0da8041f7441bb3ffd542e63a8519705a9941883aa13cc5ff4d5c14263605687778edbb8c9dddd4828524342879a6c8bfa6203d85e338de351608ddc987bcb510590276ea691728d5c94028e10fd47f209c4e4be369ffdad3a0483cf6c8704af3288e1b4b7f4ff9deae00f54bcd068347ddfef7c3bd1e2d05be8e87b52c8f348806898f0cef7f494e2c2ad3fffc73a39d5531c629efc0a63604c4173af03ad73cd71cf8ffa79a5cb8cc10efa66004237a342899bfa81f5a47e76776c9a626d49c6bcb051b168357d5ab4b7e51c1142c86ab4e52a6b3bdf85cae768841396da036a733fc15857078ea563635ccf5b366499c550c63dbc449d"
	// tcId 77: SHA-256, MGF1-SHA-256, 48-byte salt.
	wpSalt48Sig = "b261dbd4e96d7508686709dec566282ca192a0bdd1f37aea4d0530e07734cdd664d933906ea5bbb8616d1ca5b8e893ea85c613e6ec6fc94f4fb500bae6b356af8419f55ccc006781f6916190e50f411bd0c0bcfb729d2b271a4b1b30a80f53dcd9393950e595a2116e27be9b2ca1465e0eb5dff2d8f9d524c70d06127d9bd160eade8328452967739cd5e372e56ea098a662e8f5868614e0834cd380e7481952428cffb9e15daa66406c025acac8a73d63863fe3192c1eb9806d42f4add9a2c9c608c763efb64561c2178f90f46b34dd967fe6b0907bb13d2a13450128c43c8b4569778a1016495ec317dc21475705d6f95843bfb5f8f1029d2f257905ad82b8"
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
	_, c := cryptoEnv(t)
	valid, invalid := kmip.ValidityIndicatorValid, kmip.ValidityIndicatorInvalid
	salt0 := regPKCS1(t, c, unhex(wpSalt0Key), false, verifyMask)
	misc := regPKCS1(t, c, unhex(wpMiscKey), false, verifyMask)
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
		{"salt 0, Salt Length 0", salt0, unhex(wpSalt0Msg), unhex(wpSalt0Sig), pssParams(fSaltLen(0)), valid},
		{"salt 0, Salt Length 32", salt0, unhex(wpSalt0Msg), unhex(wpSalt0Sig), pssParams(fSaltLen(32)), invalid},
		{"salt 0, no Salt Length", salt0, unhex(wpSalt0Msg), unhex(wpSalt0Sig), pssParams(), invalid},
		{"salt 32, Salt Length 0", misc, unhex(wpMiscMsg), unhex(wpSalt32Sig), pssParams(fSaltLen(0)), invalid},
		{"salt 32, Salt Length 32", misc, unhex(wpMiscMsg), unhex(wpSalt32Sig), pssParams(fSaltLen(32)), valid},
		{"salt 32, Salt Length 31", misc, unhex(wpMiscMsg), unhex(wpSalt32Sig), pssParams(fSaltLen(31)), invalid},
		{"salt 32, no Salt Length", misc, unhex(wpMiscMsg), unhex(wpSalt32Sig), pssParams(), valid},
		{"salt 48, no Salt Length", misc, unhex(wpMiscMsg), unhex(wpSalt48Sig), pssParams(), invalid},
		{"salt 48, Salt Length 48", misc, unhex(wpMiscMsg), unhex(wpSalt48Sig), pssParams(fSaltLen(48)), valid},
		{"salt 222 (CS-AC-M-2), no Salt Length", oasis, oasisMsg, unhex(oasisSig), pssParams(), valid},
		{"salt 222 (CS-AC-M-2), Salt Length 222", oasis, oasisMsg, unhex(oasisSig), pssParams(fSaltLen(222)), valid},
		{"salt 222 (CS-AC-M-2), Salt Length 221", oasis, oasisMsg, unhex(oasisSig), pssParams(fSaltLen(221)), invalid},
		{"MGF1-SHA-1, MGF1-SHA-1 and Salt Length 32", misc, unhex(wpMiscMsg), unhex(wpMGF1SHA1Sig), pssParams(fMGF1(sha1), fSaltLen(32)), valid},
		{"MGF1-SHA-1, MGF1-SHA-1", misc, unhex(wpMiscMsg), unhex(wpMGF1SHA1Sig), pssParams(fMGF1(sha1)), valid},
		{"MGF1-SHA-1, MGF1-SHA-1 and Salt Length 20", misc, unhex(wpMiscMsg), unhex(wpMGF1SHA1Sig), pssParams(fMGF1(sha1), fSaltLen(20)), invalid},
		{"MGF1-SHA-1, no MGF1 hash", misc, unhex(wpMiscMsg), unhex(wpMGF1SHA1Sig), pssParams(fSaltLen(32)), invalid},
		{"MGF1-SHA-1, MGF1-SHA-256", misc, unhex(wpMiscMsg), unhex(wpMGF1SHA1Sig), pssParams(fMGF1(sha2), fSaltLen(32)), invalid},
		{"salt 32, MGF1-SHA-1", misc, unhex(wpMiscMsg), unhex(wpSalt32Sig), pssParams(fMGF1(sha1)), invalid},
	} {
		if got := verifyBoth(t, c, tc.key, tc.p, tc.msg, tc.sig); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// Digested Data too.
	d := sha256.Sum256(unhex(wpMiscMsg))
	for p, want := range map[string]kmip.ValidityIndicator{"": valid, "salt 20": invalid} {
		ps := pssParams(fMGF1(sha1))
		if p != "" {
			ps = pssParams(fMGF1(sha1), fSaltLen(20))
		}
		if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(misc), ps, fDigest(d[:]), fSig(unhex(wpMGF1SHA1Sig)))); v != want {
			t.Errorf("Digested Data, MGF1-SHA-1 %s: %s, want %s", p, v, want)
		}
	}
	// Mask Generator other than MGF1 and a bad Salt Length are refused.
	fails(t, c, kmip.OperationSignatureVerify, kmip.ResultReasonUnsupportedCryptographicParameters, fUID(misc),
		pssParams(fEnum(ttlv.TagMaskGenerator, 2)), fData(unhex(wpMiscMsg)), fSig(unhex(wpSalt32Sig)))
	fails(t, c, kmip.OperationSignatureVerify, kmip.ResultReasonBadCryptographicParameters, fUID(misc),
		pssParams(fSaltLen(-1)), fData(unhex(wpMiscMsg)), fSig(unhex(wpSalt32Sig)))
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
