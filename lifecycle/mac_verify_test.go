package lifecycle_test

import (
	"bytes"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// TestMACVerify_Truncated verifies the truncated HMACs of RFC 4231 §4.6
// (Test Case 5: key 0x0c × 20, "Test With Truncation", 128-bit tags),
// single-part and multi-part, and refuses tags shorter than 64 bits.
func TestMACVerify_Truncated(t *testing.T) {
	_, c := cryptoEnv(t)
	key := bytes.Repeat([]byte{0x0c}, 20)
	data := []byte("Test With Truncation")
	for alg, tag := range map[kmip.CryptographicAlgorithm]string{
		kmip.CryptographicAlgorithmHMAC_SHA224: "0e2aea68a90c8d37c988bcdb9fca6fa8",
		kmip.CryptographicAlgorithmHMAC_SHA256: "a3b6167473100ee06e0c796c2955552b",
		kmip.CryptographicAlgorithmHMAC_SHA384: "3abf34c3503b2a23a46efc619baef897",
		kmip.CryptographicAlgorithmHMAC_SHA512: "415fad6271580a531d4179bc891d87a6",
	} {
		id := regSym(t, c, alg, key, macMask)
		verify := func(mac []byte) (kmip.ValidityIndicator, error) {
			it, err := do(t, c, kmip.OperationMACVerify, pl(fUID(id), fData(data), fMAC(mac)))
			if err != nil {
				return 0, err
			}
			v := validity(t, it)
			it = must(t, c, kmip.OperationMACVerify, fUID(id), fData(data[:7]), fMAC(mac), fInit())
			cv := out(it, ttlv.TagCorrelationValue)
			it, err = do(t, c, kmip.OperationMACVerify, pl(fUID(id), fData(data[7:]), fCV(cv), fFinal()))
			if err != nil {
				t.Fatalf("%s: single-part %s, multi-part %v", alg, v, err)
			}
			if v2 := validity(t, it); v2 != v {
				t.Fatalf("%s: single-part %s, multi-part %s", alg, v, v2)
			}
			return v, nil
		}
		want := unhex(tag)
		full := out(must(t, c, kmip.OperationMAC, fUID(id), fData(data)), ttlv.TagMACData)
		if !bytes.HasPrefix(full, want) {
			t.Fatalf("%s = %x, does not start with RFC 4231's %s", alg, full, tag)
		}
		for _, n := range []int{16, 12, 8} {
			if v, err := verify(want[:n]); err != nil || v != kmip.ValidityIndicatorValid {
				t.Fatalf("%s, %d-byte truncated MAC: %v, %v", alg, n, v, err)
			}
			bad := append([]byte(nil), want[:n]...)
			bad[n-1] ^= 0x80
			if v, err := verify(bad); err != nil || v != kmip.ValidityIndicatorInvalid {
				t.Fatalf("%s, wrong %d-byte truncated MAC: %v, %v", alg, n, v, err)
			}
		}
		// The full MAC, and a longer one.
		if v, err := verify(full); err != nil || v != kmip.ValidityIndicatorValid {
			t.Fatalf("%s, full MAC: %v, %v", alg, v, err)
		}
		if v, err := verify(append(full, 0)); err != nil || v != kmip.ValidityIndicatorInvalid {
			t.Fatalf("%s, MAC with a byte more: %v, %v", alg, v, err)
		}
		// Below 64 bits: Invalid Field, single-part and multi-part.
		for _, n := range []int{7, 4, 1} {
			_, err := do(t, c, kmip.OperationMACVerify, pl(fUID(id), fData(data), fMAC(want[:n])))
			wantReason(t, err, kmip.ResultReasonInvalidField)
		}
		it := must(t, c, kmip.OperationMACVerify, fUID(id), fData(data[:7]), fMAC(want[:4]), fInit())
		_, err := do(t, c, kmip.OperationMACVerify, pl(fUID(id), fData(data[7:]), fCV(out(it, ttlv.TagCorrelationValue)), fFinal()))
		wantReason(t, err, kmip.ResultReasonInvalidField)
	}
}
