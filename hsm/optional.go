package hsm

import (
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
)

// Optional capabilities. A backend implements [Backend] and may implement
// any of the interfaces below; callers detect them with a type assertion:
//
//	if r, ok := backend.(hsm.KeyRotator); ok { ... }
//
// The software backend implements none of them yet; the PKCS#11 backend
// (hsm/pkcs11) implements all of them.

// KindPKCS11Wrap marks a PKCS#11 key blob: key material that exists in
// plaintext only inside the HSM and is stored wrapped with
// CKM_AES_KEY_WRAP_PAD under the master wrapping key. Its layout after the
// 6-byte header differs from the AES-GCM layout of [ParseBlob]; it is
// described in the hsm/pkcs11 package documentation. KindPKCS11 blobs are
// AES-GCM blobs in the layout of [ParseBlob], sealed by C_Encrypt.
const KindPKCS11Wrap Kind = 0x03

// ErrNotSupported means the backend cannot do what was asked (an algorithm,
// key size or blob kind it does not handle). It is not a failure of the
// backend: the caller reports Feature Not Supported or similar.
var ErrNotSupported = errors.New("hsm: not supported by this backend")

// BlobKind returns the backend kind and master-key version recorded in
// blob's header without checking the rest of the blob.
func BlobKind(blob []byte) (Header, error) {
	if len(blob) < HeaderSize || blob[0] != FormatV1 {
		return Header{}, fmt.Errorf("%w: no version-1 header", ErrBlobCorrupt)
	}
	h := Header{Kind: Kind(blob[1]), KeyVersion: binary.BigEndian.Uint32(blob[2:HeaderSize])}
	if h.KeyVersion == 0 {
		return Header{}, fmt.Errorf("%w: master-key version 0", ErrBlobCorrupt)
	}
	return h, nil
}

// HealthChecker reports whether the backend can serve requests. A non-nil
// error wraps [ErrUnavailable]; the server's health check turns red and
// requests needing key material fail (fail closed).
type HealthChecker interface {
	Health(ctx context.Context) error
}

// KeySealer protects client-supplied symmetric key material as a key of the
// backend rather than as opaque data (KMIP Register of a Symmetric Key,
// migration between backends). For an HSM the material is imported as a
// key object and stored wrapped, so that later operations such as
// [KeyExporter.RewrapKey] run inside the HSM. [Backend.Open] returns the
// material unchanged.
type KeySealer interface {
	SealKey(ctx context.Context, id string, key []byte) (blob []byte, err error)
}

// KeyPairAlgorithm names the kind of key pair [KeyPairGenerator] makes.
type KeyPairAlgorithm int

// Key-pair algorithms.
const (
	KeyPairRSA KeyPairAlgorithm = iota + 1 // Bits: 2048, 3072 or 4096
	KeyPairEC                              // Curve: "P-256", "P-384" or "P-521"
)

// KeyPairSpec describes a key pair to generate.
type KeyPairSpec struct {
	Algorithm KeyPairAlgorithm
	Bits      int    // RSA modulus size
	Curve     string // EC curve name
}

// KeyPair is a generated key pair. The public key is not secret and is
// returned in the clear; the private key exists only as a blob bound to the
// private key object's identifier. [Backend.Open] of PrivateBlob yields the
// private key as PKCS#8 DER.
type KeyPair struct {
	PublicKeyDER []byte // X.509 SubjectPublicKeyInfo DER
	PrivateBlob  []byte
}

// KeyPairGenerator generates asymmetric key pairs inside the backend.
type KeyPairGenerator interface {
	GenerateKeyPair(ctx context.Context, privateID string, spec KeyPairSpec) (KeyPair, error)
}

// WrapMechanism selects how [KeyExporter.RewrapKey] wraps a key.
type WrapMechanism int

// Wrapping mechanisms (KMIP Key Wrapping Specification, Encrypt).
const (
	WrapAESKeyWrap    WrapMechanism = iota + 1 // RFC 3394 (NIST KW); key length a multiple of 8, at least 16
	WrapAESKeyWrapPad                          // RFC 5649 (NIST KWP)
	WrapRSAOAEPSHA1                            // RSA-OAEP with SHA-1 and MGF1-SHA-1
)

// WrapSpec names the key that wraps an exported key and the mechanism.
// Exactly one of KeyBlob (a symmetric wrapping key managed by this backend,
// with its object identifier in KeyID) and PublicKey (an *rsa.PublicKey,
// for WrapRSAOAEPSHA1) is set.
type WrapSpec struct {
	Mechanism WrapMechanism
	KeyID     string
	KeyBlob   []byte
	PublicKey crypto.PublicKey
}

// KeyExporter serves KMIP Get and Export with a Key Wrapping Specification:
// RewrapKey returns the key held in blob (bound to id) wrapped under the
// wrapping key of spec. For key blobs an HSM unwraps both keys inside the
// HSM as non-extractable-in-plaintext session objects and calls C_WrapKey,
// so the plaintext of the key never leaves the HSM; this is how Sensitive
// objects are served. The result is what the client receives as the
// wrapped Key Material.
type KeyExporter interface {
	RewrapKey(ctx context.Context, id string, blob []byte, spec WrapSpec) ([]byte, error)
}

// KeyRotator is implemented by backends with versioned master keys
// (`kmipd hsm rotate`).
type KeyRotator interface {
	// KeyVersions returns the master-key version new blobs get and every
	// version the backend can open, ascending.
	KeyVersions() (current uint32, loaded []uint32)

	// UseKeyVersion makes master-key version v current, creating it first
	// if create is true and it does not exist yet.
	UseKeyVersion(ctx context.Context, v uint32, create bool) error

	// RetireKeyVersion destroys master-key version v, which must not be
	// the current one. Blobs under v can no longer be opened: call it only
	// when nothing (including backups) refers to v.
	RetireKeyVersion(ctx context.Context, v uint32) error

	// Rewrap returns blob, which must belong to id and to this backend,
	// protected under the current master-key version. A blob already under
	// the current version is returned as is (the same slice).
	Rewrap(ctx context.Context, id string, blob []byte) ([]byte, error)
}

// Stats are a backend's counters, for metrics.
type Stats struct {
	PoolWaits uint64 // operations that waited for a free HSM session
	Errors    uint64 // failed HSM calls

	// The cache of unwrapped key handles ([KeyForgetter]): Cipher
	// operations that found the key unwrapped, those that unwrapped it,
	// handles destroyed to make room, and handles held now.
	KeyCacheHits, KeyCacheMisses, KeyCacheEvictions uint64
	KeyCacheHandles                                 uint64
}

// KeyForgetter is implemented by backends that keep keys unwrapped
// between [Cipher] operations (the PKCS#11 one: non-extractable session
// objects). ForgetKey destroys what is kept for object id; the server calls
// it once a Destroy or Revoke of the object has committed, so that no
// handle of a key that is gone or no longer to be used stays in the HSM.
type KeyForgetter interface {
	ForgetKey(id string)
}

// StatsReporter is implemented by backends that count (the PKCS#11 one).
type StatsReporter interface {
	Stats() Stats
}

// LibraryInfo is a PKCS#11 library's CK_INFO (PKCS#11 v2.40 base specification): what
// C_GetInfo reports of the Cryptoki library behind a backend.
type LibraryInfo struct {
	CryptokiMajor, CryptokiMinor byte
	Manufacturer                 string // at most 32 bytes, blank-padded on the wire
	Flags                        uint64
	Description                  string // at most 32 bytes, blank-padded on the wire
	LibraryMajor, LibraryMinor   byte
}

// LibraryInformer reports the PKCS#11 library behind the backend, for the
// informational functions of KMIP's PKCS#11 operation (C_GetInfo). It hands
// out no key, slot or session of the library.
type LibraryInformer interface {
	LibraryInfo(ctx context.Context) (LibraryInfo, error)
}
