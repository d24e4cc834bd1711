package kmip

import "strings"

// SpecName turns the CamelCase name of an enumeration value, as String
// returns it ("PreActive", "DeriveKey", "MACVerify"), back into the words
// the specification uses ("Pre-Active", "Derive Key", "MAC Verify"), for
// messages a client developer reads next to the spec.
func SpecName(camel string) string {
	var b strings.Builder
	r := []rune(camel)
	for i, c := range r {
		if i > 0 && isUpper(c) && (!isUpper(r[i-1]) || i+1 < len(r) && isLower(r[i+1])) && r[i-1] != '_' {
			b.WriteByte(' ')
		}
		if c == '_' {
			c = '-'
		}
		b.WriteRune(c)
	}
	s := b.String()
	if fixed, ok := specNameFixes[s]; ok {
		return fixed
	}
	return s
}

func isUpper(c rune) bool { return c >= 'A' && c <= 'Z' }
func isLower(c rune) bool { return c >= 'a' && c <= 'z' }

// specNameFixes are the names whose spelling is not their words joined by
// spaces.
var specNameFixes = map[string]string{
	"Pre Active":      "Pre-Active",
	"DES3":            "3DES",
	"Re Key":          "Re-key",
	"Re Key Key Pair": "Re-key Key Pair",
	"Re Certify":      "Re-certify",
	"Mac":             "MAC",
	"PKCS-1":          "PKCS#1",
	"PKCS-8":          "PKCS#8",
	"PKCS-12":         "PKCS#12",
	"X-509":           "X.509",
}
