package lifecycle

import (
	"bytes"
	"context"
	"crypto"
	"sync/atomic"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
)

// Parsed asymmetric keys. Parsing a key (crypto/x509, encoding/asn1, and
// for RSA the CRT precomputation) costs more than the signature itself for
// ECDSA and Ed25519, and most of the allocations of every Sign and
// Signature Verify. So the key parsed from a cached object is kept with the
// cache entry (objectCache) and shares its coherence: an entry belongs to
// one version of the object, every write (Re-key, Revoke, Destroy, any
// attribute change) drops the entry and its parsed key with it, and master
// key rotation clears the cache. An object not in the cache (a batch
// transaction, a full cache) is parsed at each use, as is a key the HSM
// holds, which stays in the HSM between uses.
//
// The parsed private key stays in memory while its entry lives, like the
// sealed blob beside it but in the clear: Go cannot wipe a crypto.Signer,
// and Config.ParsedKeys bounds how many are kept.

// parsedKey is the key of an asymmetric object.
type parsedKey struct {
	priv crypto.Signer    // a Private Key's; nil for public keys and certificates
	pub  crypto.PublicKey // its public half, or the public key itself
}

// keySlot holds the parsedKey of one cached object version, set on first use.
type keySlot struct{ k atomic.Pointer[parsedKey] }

// cachesKey reports whether a cache entry of o gets a keySlot.
func cachesKey(o *objects.Object) bool {
	switch o.Type {
	case kmip.ObjectTypePrivateKey, kmip.ObjectTypePublicKey, kmip.ObjectTypeCertificate:
		return o.Blob != nil && !heldByHSM(o)
	}
	return false
}

// asymKey returns o's key, parsed once per cached version of o. Like
// withMaterial it refuses an object without material or one the HSM keeps.
func (s *Service) asymKey(ctx context.Context, o *objects.Object) (*parsedKey, error) {
	if o.Blob == nil {
		return nil, errNoPlaintext(o)
	}
	if err := s.useInGo(o); err != nil {
		return nil, err
	}
	slot := s.cache.keySlot(o)
	if slot != nil {
		if k := slot.k.Load(); k != nil {
			return k, nil
		}
	}
	buf, material, err := s.openMaterial(ctx, o)
	defer releaseMaterial(buf, material)
	if err != nil {
		return nil, err
	}
	k, err := parseKey(o, material)
	if err != nil {
		return nil, err
	}
	if slot != nil {
		slot.k.Store(k)
	}
	return k, nil
}

// parseKey parses the material of an asymmetric object.
func parseKey(o *objects.Object, material []byte) (*parsedKey, error) {
	if o.Type == kmip.ObjectTypePrivateKey {
		priv, err := parsePrivateKey(material)
		if err != nil {
			return nil, err
		}
		return &parsedKey{priv: priv, pub: priv.Public()}, nil
	}
	// crypto/x509 returns Ed25519 public keys and certificates that alias
	// the bytes they were parsed from, which the caller wipes: parse a
	// copy (public data). The private key parsers copy into new keys
	// (TestParseKey_OwnsItsMemory).
	pub, err := parsePublicKey(o, bytes.Clone(material))
	if err != nil {
		return nil, err
	}
	return &parsedKey{pub: pub}, nil
}
