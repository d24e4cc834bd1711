package lifecycle_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

const macMask = kmip.CryptographicUsageMaskMACGenerate | kmip.CryptographicUsageMaskMACVerify

func macOf(t *testing.T, c *kmip.Client, fs ...fld) string {
	t.Helper()
	return hex.EncodeToString(out(must(t, c, kmip.OperationMAC, fs...), ttlv.TagMACData))
}

// CMAC per NIST SP 800-38B, with the examples of its appendix D (AES-128,
// -192, -256 and three-key Triple DES; the 16-byte Triple DES message is
// checked against an independent implementation).
func TestCrypto_CMACVectors(t *testing.T) {
	_, c := cryptoEnv(t)
	m := unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
	vectors := []struct {
		alg  kmip.CryptographicAlgorithm
		key  string
		n    int
		want string
	}{
		{kmip.CryptographicAlgorithmAES, "2b7e151628aed2a6abf7158809cf4f3c", 0, "bb1d6929e95937287fa37d129b756746"},
		{kmip.CryptographicAlgorithmAES, "2b7e151628aed2a6abf7158809cf4f3c", 16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{kmip.CryptographicAlgorithmAES, "2b7e151628aed2a6abf7158809cf4f3c", 40, "dfa66747de9ae63030ca32611497c827"},
		{kmip.CryptographicAlgorithmAES, "2b7e151628aed2a6abf7158809cf4f3c", 64, "51f0bebf7e3b9d92fc49741779363cfe"},
		{kmip.CryptographicAlgorithmAES, "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", 0, "d17ddf46adaacde531cac483de7a9367"},
		{kmip.CryptographicAlgorithmAES, "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", 16, "9e99a7bf31e710900662f65e617c5184"},
		{kmip.CryptographicAlgorithmAES, "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", 40, "8a1de5be2eb31aad089a82e6ee908b0e"},
		{kmip.CryptographicAlgorithmAES, "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", 64, "a1d5df0eed790f794d77589659f39a11"},
		{kmip.CryptographicAlgorithmAES, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 0, "028962f61b7bf89efc6b551f4667d983"},
		{kmip.CryptographicAlgorithmAES, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 16, "28a7023f452e8f82bd4bf28d8c37c35c"},
		{kmip.CryptographicAlgorithmAES, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 40, "aaf3d8f1de5640c232f5b169b9c911e6"},
		{kmip.CryptographicAlgorithmAES, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 64, "e1992190549f6ed5696a2c056c315410"},
		{kmip.CryptographicAlgorithmDES3, "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 0, "b7a688e122ffaf95"},
		{kmip.CryptographicAlgorithmDES3, "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 16, "286d394673448197"},
		{kmip.CryptographicAlgorithmDES3, "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 20, "743ddbe0ce2dc2ed"},
		{kmip.CryptographicAlgorithmDES3, "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 32, "33e6b1092400eae5"},
	}
	ids := map[string]string{}
	for _, v := range vectors {
		id, ok := ids[v.key]
		if !ok {
			id = regSym(t, c, v.alg, unhex(v.key), macMask)
			ids[v.key] = id
		}
		// With Block Cipher Mode CMAC, and by default for a block cipher key.
		for _, params := range []fld{fParams(fMode(kmip.BlockCipherModeCMAC)), nil} {
			if got := macOf(t, c, fUID(id), params, fData(m[:v.n])); got != v.want {
				t.Fatalf("CMAC %s/%d = %s, want %s", v.key[:8], v.n, got, v.want)
			}
		}
		// In pieces.
		if v.n > 0 {
			it := must(t, c, kmip.OperationMAC, fUID(id), fData(m[:v.n/3]), fInit())
			cv := out(it, ttlv.TagCorrelationValue)
			must(t, c, kmip.OperationMAC, fUID(id), fData(m[v.n/3:v.n/2]), fCV(cv))
			got := hex.EncodeToString(out(must(t, c, kmip.OperationMAC, fUID(id), fData(m[v.n/2:v.n]), fCV(cv), fFinal()), ttlv.TagMACData))
			if got != v.want {
				t.Fatalf("multi-part CMAC %s/%d = %s", v.key[:8], v.n, got)
			}
		}
		it := must(t, c, kmip.OperationMACVerify, fUID(id), fData(m[:v.n]), fMAC(unhex(v.want)))
		if validity(t, it) != kmip.ValidityIndicatorValid {
			t.Fatal("MAC Verify of a good CMAC")
		}
	}
}

// HMAC: RFC 2202/4231 test case 2, and CS-AC-M-4/5/6, where an AES key's
// Cryptographic Parameters attribute selects HMAC-SHA256.
func TestCrypto_HMAC(t *testing.T) {
	_, c := cryptoEnv(t)
	key, msg := []byte("Jefe"), []byte("what do ya want for nothing?")
	for alg, want := range map[kmip.CryptographicAlgorithm]string{
		kmip.CryptographicAlgorithmHMAC_SHA1:     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
		kmip.CryptographicAlgorithmHMAC_SHA224:   "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
		kmip.CryptographicAlgorithmHMAC_SHA256:   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		kmip.CryptographicAlgorithmHMAC_SHA384:   "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
		kmip.CryptographicAlgorithmHMAC_SHA512:   "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
		kmip.CryptographicAlgorithmHMAC_SHA3_256: "c7d4072e788877ae3596bbb0da73b887c9171f93095b294ae857fbe2645e1ba5",
	} {
		id := regSym(t, c, alg, key, macMask)
		if got := macOf(t, c, fUID(id), fData(msg)); got != want {
			t.Fatalf("%s = %s, want %s", alg, got, want)
		}
	}
	// CS-AC-M-4..6.
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, unhex("0123456789abcdef0123456789abcdef"), macMask|encDec,
		paramsAttr(c.Version, fAlg(kmip.CryptographicAlgorithmHMAC_SHA256)))
	data := unhex("01020304050607080910111213141516")
	const want = "c911e78196d64c30f631bb079ea37b97a95936d4da764d6a171df030c895ecf9"
	if got := macOf(t, c, fUID(id), fData(data)); got != want {
		t.Fatalf("CS-AC-M-4 = %s", got)
	}
	// A Hashing Algorithm alone selects HMAC too.
	if got := macOf(t, c, fUID(id), fParams(fHash(kmip.HashingAlgorithmSHA_256)), fData(data)); got != want {
		t.Fatalf("HMAC by Hashing Algorithm = %s", got)
	}
	verify := func(mac []byte, fs ...fld) kmip.ValidityIndicator {
		return validity(t, must(t, c, kmip.OperationMACVerify, append([]fld{fUID(id)}, append(fs, fMAC(mac))...)...))
	}
	if v := verify(unhex(want), fData(data)); v != kmip.ValidityIndicatorValid {
		t.Fatalf("CS-AC-M-5: %s", v)
	}
	bad := unhex(want)
	bad[0] ^= 1
	if v := verify(bad, fData(data)); v != kmip.ValidityIndicatorInvalid {
		t.Fatalf("wrong MAC: %s", v)
	}
	// A truncated MAC is compared with the MAC's first bytes
	// (mac_verify_test.go has the known answers).
	if v := verify(unhex(want)[:16], fData(data)); v != kmip.ValidityIndicatorValid {
		t.Fatalf("truncated MAC: %s", v)
	}
	if v := verify(bad[:16], fData(data)); v != kmip.ValidityIndicatorInvalid {
		t.Fatalf("wrong truncated MAC: %s", v)
	}
	// TC-STREAM-MAC-1: MAC and MAC Verify in pieces.
	it := must(t, c, kmip.OperationMAC, fUID(id), fData(data[:2]), fInit())
	cv := out(it, ttlv.TagCorrelationValue)
	it = must(t, c, kmip.OperationMAC, fUID(id), fData(data[2:14]), fCV(cv))
	if has(it, ttlv.TagMACData) {
		t.Fatal("MAC Data before the end")
	}
	if got := hex.EncodeToString(out(must(t, c, kmip.OperationMAC, fUID(id), fData(data[14:]), fCV(cv), fFinal()), ttlv.TagMACData)); got != want {
		t.Fatalf("multi-part MAC = %s", got)
	}
	it = must(t, c, kmip.OperationMACVerify, fUID(id), fData(data[:4]), fMAC(unhex(want)), fInit())
	cv = out(it, ttlv.TagCorrelationValue)
	must(t, c, kmip.OperationMACVerify, fUID(id), fData(data[4:12]), fCV(cv))
	if v := validity(t, must(t, c, kmip.OperationMACVerify, fUID(id), fData(data[12:]), fCV(cv), fFinal())); v != kmip.ValidityIndicatorValid {
		t.Fatalf("multi-part MAC Verify: %s", v)
	}
	// The mask decides.
	noMAC := regSym(t, c, kmip.CryptographicAlgorithmHMAC_SHA256, key, kmip.CryptographicUsageMaskMACVerify)
	fails(t, c, kmip.OperationMAC, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(noMAC), fData(msg))
	fails(t, c, kmip.OperationMAC, kmip.ResultReasonUnsupportedCryptographicParameters, fUID(id), fParams(fMode(kmip.BlockCipherModeCBC_MAC)), fData(msg))
	// Usage Limits apply to MAC, not to MAC Verify.
	lim := regSym(t, c, kmip.CryptographicAlgorithmHMAC_SHA256, key, macMask, usageLimitsAttr(c.Version, 1, kmip.UsageLimitsUnitObject))
	mac := unhex(macOf(t, c, fUID(lim), fData(msg)))
	fails(t, c, kmip.OperationMAC, kmip.ResultReasonPermissionDenied, fUID(lim), fData(msg))
	if v := validity(t, must(t, c, kmip.OperationMACVerify, fUID(lim), fData(msg), fMAC(mac))); v != kmip.ValidityIndicatorValid {
		t.Fatal("MAC Verify with exhausted limits")
	}
}

// Hash (CS-AC-M-7) and multi-part Hash (TC-STREAM-HASH-1..3).
func TestCrypto_Hash(t *testing.T) {
	_, c := cryptoEnv(t)
	hash := func(h kmip.HashingAlgorithm, data []byte) string {
		return hex.EncodeToString(out(must(t, c, kmip.OperationHash, fParams(fHash(h)), fData(data)), ttlv.TagData))
	}
	data := unhex("01020304050607080910111213141516")
	if got := hash(kmip.HashingAlgorithmSHA_256, data); got != "ad41233d22cf9322e3a7ff49a13da434797abed3bab80950a1a0d4e582b7ea72" {
		t.Fatalf("SHA-256 = %s", got)
	}
	if got := hash(kmip.HashingAlgorithmSHA_512, data); got != "406a806f76c06b90c8aca278995d4271037f91124ebfaba5475f1f59ee21ebe3a0cc7f5ca6f2183d360bcc762cef68713de7c6498eb08dc591075ca62f7a0717" {
		t.Fatalf("SHA-512 = %s", got)
	}
	if got := hash(kmip.HashingAlgorithmSHA3_256, []byte("abc")); got != "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532" {
		t.Fatalf("SHA3-256 = %s", got)
	}
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	sha := fParams(fHash(kmip.HashingAlgorithmSHA_256))
	for _, last := range [][]fld{{fData([]byte("c"))}, {fData([]byte("c")), fData(nil)}, {fData([]byte("c")), nil}} {
		it := must(t, c, kmip.OperationHash, sha, fData([]byte("a")), fInit())
		if has(it, ttlv.TagData) {
			t.Fatal("a digest before the end")
		}
		cv := out(it, ttlv.TagCorrelationValue)
		must(t, c, kmip.OperationHash, sha, fData([]byte("b")), fCV(cv))
		var fin *kmip.ResponseItem
		if len(last) == 1 {
			fin = must(t, c, kmip.OperationHash, sha, last[0], fCV(cv), fFinal())
		} else {
			must(t, c, kmip.OperationHash, sha, last[0], fCV(cv))
			fin = must(t, c, kmip.OperationHash, sha, last[1], fCV(cv), fFinal())
		}
		if got := hex.EncodeToString(out(fin, ttlv.TagData)); got != abc {
			t.Fatalf("multi-part SHA-256 = %s", got)
		}
	}
	fails(t, c, kmip.OperationHash, kmip.ResultReasonInvalidMessage, fData(data))
	fails(t, c, kmip.OperationHash, kmip.ResultReasonUnsupportedCryptographicParameters, fParams(fHash(kmip.HashingAlgorithmMD5)), fData(data))
	fails(t, c, kmip.OperationHash, kmip.ResultReasonInvalidField, fUID("x"), sha, fData(data))
}

// Query lists the cryptographic operations.
func TestCrypto_QueryOperations(t *testing.T) {
	_, c := cryptoEnv(t)
	it := must(t, c, kmip.OperationQuery, fEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryOperations)))
	var ops []string
	v := it.Payload
	for !v.Empty() {
		x, _ := v.Next()
		if x.Tag == ttlv.TagOperation {
			ops = append(ops, kmip.Operation(x.Uint32()).String())
		}
	}
	got := strings.Join(ops, ",")
	for _, op := range []kmip.Operation{kmip.OperationEncrypt, kmip.OperationDecrypt, kmip.OperationSign,
		kmip.OperationSignatureVerify, kmip.OperationMAC, kmip.OperationMACVerify, kmip.OperationHash,
		kmip.OperationRNGRetrieve, kmip.OperationRNGSeed, kmip.OperationDeriveKey} {
		if !strings.Contains(","+got+",", ","+op.String()+",") {
			t.Fatalf("Query does not list %s: %s", op, got)
		}
	}
}
