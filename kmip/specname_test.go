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
