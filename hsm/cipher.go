package hsm

import (
	"context"
	"crypto"
	"errors"
)

// CipherMode is a block cipher mode of [SymOp].
type CipherMode int

// AES modes of [Cipher.SymmetricCrypt].
const (
	ModeECB    CipherMode = iota + 1 // no padding: whole blocks only
	ModeCBC                          // no padding: whole blocks only
	ModeCBCPad                       // PKCS#5 (PKCS#7) padding
	ModeCTR                          // IV is the initial 128-bit counter block, incremented as a whole
	ModeGCM                          // IV of any length; TagLen 12 to 16 bytes
)

// SymOp is one single-part AES encryption or decryption.
//
// For ModeGCM, encrypting returns ciphertext ‖ tag (TagLen bytes) and
// decrypting takes ciphertext ‖ tag in Data; the caller splits and joins.
type SymOp struct {
	Encrypt bool
	Mode    CipherMode
	IV      []byte // none for ModeECB
	AAD     []byte // ModeGCM only
	TagLen  int    // ModeGCM only, in bytes
	Data    []byte
}

// MACMech is an HMAC of [Cipher.MAC].
type MACMech int

// HMAC mechanisms.
const (
	HMACSHA1 MACMech = iota + 1
	HMACSHA256
	HMACSHA384
	HMACSHA512
	CMAC // AES-CMAC (NIST SP 800-38B), 16-byte tag
)

// SignMech is a signature scheme of [Cipher.Sign].
type SignMech int

// Signature schemes. The caller hashes: Digest is what the scheme signs.
const (
	// SignRSAPKCS1 signs Digest with PKCS#1 v1.5 padding as it is: the
	// caller prepends the DigestInfo of the hash, if any.
	SignRSAPKCS1 SignMech = iota + 1
	// SignRSAPSS signs the Hash digest Digest with RSASSA-PSS, MGF1 with
	// MGFHash (Hash if 0) and exactly SaltLen bytes of salt (0 included).
	SignRSAPSS
	// SignECDSA signs Digest with ECDSA; the signature is ASN.1 DER
	// (SEQUENCE of r and s), as crypto/ecdsa.SignASN1 makes it.
	SignECDSA
)

// SignOp is one signature over a digest.
type SignOp struct {
	Mech    SignMech
	Hash    crypto.Hash // SignRSAPSS only
	MGFHash crypto.Hash // SignRSAPSS only; 0: Hash
	SaltLen int         // SignRSAPSS only, in bytes
	Digest  []byte
}

// DecryptMech is an RSA decryption scheme of [Cipher.Decrypt].
type DecryptMech int

// RSA decryption schemes.
const (
	// DecryptRSAOAEPSHA1 is RSAES-OAEP with SHA-1 and MGF1-SHA-1.
	DecryptRSAOAEPSHA1 DecryptMech = iota + 1
	// DecryptRSARaw is raw RSA (c^d mod n), the output as long as the
	// modulus: the caller removes the padding (PKCS#1 v1.5 with implicit
	// rejection, so that the HSM's padding check is no oracle).
	DecryptRSARaw
)

// ErrCryptoFailed means the backend rejected the data of a cryptographic
// operation: an authentication tag that does not match, bad padding or a
// length the mode cannot take. The caller reports Cryptographic Failure.
var ErrCryptoFailed = errors.New("hsm: cryptographic operation failed")

// Cipher uses keys the backend holds without bringing them out of it. blob
// is a key blob of this backend bound to the object identifier id.
// Anything the backend cannot do inside itself (a blob kind, key type,
// mode or length it does not handle) fails with an error wrapping
// [ErrNotSupported]; bad data with one wrapping [ErrCryptoFailed].
type Cipher interface {
	// SymmetricCrypt encrypts or decrypts op.Data with the AES key in blob
	// and returns the output.
	SymmetricCrypt(ctx context.Context, id string, blob []byte, op SymOp) ([]byte, error)

	// MAC returns the HMAC or CMAC of data keyed with the key in blob.
	MAC(ctx context.Context, id string, blob []byte, mech MACMech, data []byte) ([]byte, error)

	// Sign signs op.Digest with the RSA or EC private key in blob.
	Sign(ctx context.Context, id string, blob []byte, op SignOp) ([]byte, error)

	// Decrypt decrypts ciphertext with the RSA private key in blob; label
	// is the OAEP label (none if empty).
	Decrypt(ctx context.Context, id string, blob []byte, mech DecryptMech, label, ciphertext []byte) ([]byte, error)
}
