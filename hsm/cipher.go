package hsm

import (
	"context"
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

	// MAC returns the HMAC of data keyed with the key in blob.
	MAC(ctx context.Context, id string, blob []byte, mech MACMech, data []byte) ([]byte, error)
}
