package kmip

import "testing"

func TestSpecName(t *testing.T) {
	for in, want := range map[string]string{
		"PreActive":                "Pre-Active",
		"Active":                   "Active",
		"DestroyedCompromised":     "Destroyed Compromised",
		"DeriveKey":                "Derive Key",
		"MACVerify":                "MAC Verify",
		"MAC":                      "MAC",
		"ReKey":                    "Re-key",
		"ReKeyKeyPair":             "Re-key Key Pair",
		"RNGRetrieve":              "RNG Retrieve",
		"GetAttributeList":         "Get Attribute List",
		"PKCS_8":                   "PKCS#8",
		"X_509":                    "X.509",
		"TransparentRSAPrivateKey": "Transparent RSA Private Key",
	} {
		if got := SpecName(in); got != want {
			t.Errorf("SpecName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SpecName(StatePreActive.String()); got != "Pre-Active" {
		t.Errorf("SpecName(StatePreActive) = %q", got)
	}
}

func TestSpecName_Algorithms(t *testing.T) {
	for in, want := range map[CryptographicAlgorithm]string{
		CryptographicAlgorithmDES3:        "3DES",
		CryptographicAlgorithmHMAC_SHA256: "HMAC-SHA256",
		CryptographicAlgorithmAES:         "AES",
		CryptographicAlgorithmIDEA:        "IDEA",
	} {
		if got := SpecName(in.String()); got != want {
			t.Errorf("SpecName(%v) = %q, want %q", in, got, want)
		}
	}
}
