package lifecycle

import (
	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
)

// Asymmetric keys are stored in one canonical encoding (PKCS#8 for private
// keys, SubjectPublicKeyInfo for public ones) and converted to and from
// the formats of requests by internal/keyform.

// keyDigest returns the Digest attribute of k in format f (KMIP 2.0 §4.17:
// SHA-256 of the key material in that format).
func keyDigest(k *keyform.Key, f kmip.KeyFormatType) (objects.Attribute, error) {
	item, digested, err := k.MaterialIn(f)
	if err != nil {
		return objects.Attribute{}, err
	}
	defer clear(item)
	return objects.Digest(digested, f), nil
}
