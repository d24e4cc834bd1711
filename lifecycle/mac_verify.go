package lifecycle

import (
	"crypto/subtle"

	"github.com/kmipd/kmipd/kmip"
)

// MAC Verify accepts a truncated MAC: MAC Data shorter than the MAC is
// compared with as many leading bytes of it (the leftmost bits, NIST SP
// 800-107r1 §5.3.3), in constant time. NIST SP 800-107r1 §5.3.4 allows
// tags down to 32 bits only where the number of verification attempts is
// limited, and SP 800-38B (CMAC) advises at least 64 bits without such a
// limit; kmipd does not limit attempts, so its floor is 64 bits
// (macMinTruncated). Shorter MAC Data is refused with Invalid Field: the
// field's value is one the server does not accept, which is not the same
// as a MAC that does not match (Validity Indicator Invalid). MAC Data
// longer than the MAC is Invalid.

// macMinTruncated is the shortest truncated MAC accepted, in bytes.
const macMinTruncated = 8

// macMatches reports whether given, the MAC Data of a MAC Verify request,
// is the MAC tag or a truncation of it down to macMinTruncated bytes.
func macMatches(tag, given []byte) (bool, error) {
	switch {
	case len(given) > len(tag):
		return false, nil
	case len(given) < len(tag) && len(given) < macMinTruncated:
		return false, kmip.Errorf(kmip.ResultReasonInvalidField,
			"MAC Data of %d bytes: a truncated MAC must have at least %d bytes (64 bits)", len(given), macMinTruncated)
	}
	return subtle.ConstantTimeCompare(tag[:len(given)], given) == 1, nil
}
