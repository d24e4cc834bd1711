// Package keywrap holds AES Key Wrap (RFC 3394) and AES Key Wrap with
// Padding (RFC 5649).
//
// These are the KW and KWP modes of NIST SP 800-38F with AES as the block
// cipher. They serve the KMIP Key Wrapping Specification and give byte-exact
// parity with PKCS#11 CKM_AES_KEY_WRAP and CKM_AES_KEY_WRAP_PAD (SoftHSM
// 2.6.1 zero-pads inputs that are not a multiple of 8 bytes before wrapping,
// so only those lengths match byte for byte).
//
// The KEK is an AES key of 16, 24 or 32 bytes. The tests check the
// published vectors of RFC 3394 §4 and RFC 5649 §6.
package keywrap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrUnwrap is returned (wrapped) when unwrapping fails its integrity check:
// wrong KEK, tampered or truncated ciphertext, or a KW/KWP mix-up.
var ErrUnwrap = errors.New("keywrap: integrity check failed")

const (
	// kwIV is the RFC 3394 §2.2.3.1 default initial value.
	kwIV uint64 = 0xA6A6A6A6A6A6A6A6
	// kwpICV is the constant upper half of the RFC 5649 §3 alternative
	// initial value; the lower half is the message length indicator.
	kwpICV uint32 = 0xA65959A6
)

func newKEK(kek []byte) (cipher.Block, error) {
	switch len(kek) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("keywrap: KEK is %d bytes, want 16, 24 or 32", len(kek))
	}
	return aes.NewCipher(kek)
}

// WrapKey wraps plaintext under kek with AES Key Wrap (RFC 3394, default IV).
// plaintext must be at least 16 bytes and a multiple of 8 bytes. The result
// is 8 bytes longer than plaintext.
func WrapKey(kek, plaintext []byte) ([]byte, error) {
	if len(plaintext) < 16 || len(plaintext)%8 != 0 {
		return nil, fmt.Errorf("keywrap: KW plaintext is %d bytes, want a multiple of 8 and at least 16", len(plaintext))
	}
	block, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8+len(plaintext))
	copy(out[8:], plaintext)
	wrapCore(block, kwIV, out)
	return out, nil
}

// UnwrapKey reverses [WrapKey]. On failure it returns an error wrapping
// [ErrUnwrap] and no plaintext.
func UnwrapKey(kek, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 24 || len(ciphertext)%8 != 0 {
		return nil, fmt.Errorf("%w: KW ciphertext is %d bytes, want a multiple of 8 and at least 24", ErrUnwrap, len(ciphertext))
	}
	block, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(ciphertext)-8)
	a := unwrapCore(block, ciphertext, out)
	if constantTimeIsZero(a^kwIV) != 1 {
		clear(out)
		return nil, ErrUnwrap
	}
	return out, nil
}

// WrapKeyPad wraps plaintext under kek with AES Key Wrap with Padding
// (RFC 5649). plaintext may be 1 to 2^32-1 bytes long. The result is
// plaintext rounded up to a multiple of 8, plus 8 bytes.
func WrapKeyPad(kek, plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 || uint64(len(plaintext)) > math.MaxUint32 {
		return nil, fmt.Errorf("keywrap: KWP plaintext is %d bytes, want 1 to 2^32-1", len(plaintext))
	}
	block, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	padded := (len(plaintext) + 7) &^ 7
	aiv := uint64(kwpICV)<<32 | uint64(len(plaintext))
	out := make([]byte, 8+padded) // zero padding included
	copy(out[8:], plaintext)
	if padded == 8 {
		// RFC 5649 §4.1: a single block is encrypted directly (ECB).
		binary.BigEndian.PutUint64(out[:8], aiv)
		block.Encrypt(out, out)
		return out, nil
	}
	wrapCore(block, aiv, out)
	return out, nil
}

// UnwrapKeyPad reverses [WrapKeyPad]. It checks the alternative initial
// value, the message length indicator and that the padding is zero; on any
// failure it returns an error wrapping [ErrUnwrap] and no plaintext.
func UnwrapKeyPad(kek, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 16 || len(ciphertext)%8 != 0 {
		return nil, fmt.Errorf("%w: KWP ciphertext is %d bytes, want a multiple of 8 and at least 16", ErrUnwrap, len(ciphertext))
	}
	block, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	var (
		a   uint64
		out = make([]byte, len(ciphertext)-8)
	)
	if len(ciphertext) == 16 {
		var buf [16]byte
		block.Decrypt(buf[:], ciphertext)
		a = binary.BigEndian.Uint64(buf[:8])
		copy(out, buf[8:])
		clear(buf[:])
	} else {
		a = unwrapCore(block, ciphertext, out)
	}

	// All checks are combined without early exit so that the failure
	// reason does not leak through timing.
	mli := uint64(uint32(a))
	n := uint64(len(out))
	ok := constantTimeIsZero(a>>32 ^ uint64(kwpICV))
	// 8*(n/8-1) < mli <= n, i.e. n-8 < mli <= n.
	ok &= constantTimeLessOrEq(n-7, mli) & constantTimeLessOrEq(mli, n)
	var pad byte
	for i := range out {
		// Bytes at index >= mli must be zero.
		pad |= out[i] & byte(constantTimeLessOrEq(mli, uint64(i))*0xff)
	}
	ok &= subtle.ConstantTimeByteEq(pad, 0)
	if ok != 1 {
		clear(out)
		return nil, ErrUnwrap
	}
	return out[:mli:mli], nil
}

// constantTimeIsZero returns 1 if x == 0 and 0 otherwise.
func constantTimeIsZero(x uint64) int {
	return int(((x | -x) >> 63) ^ 1)
}

// constantTimeLessOrEq returns 1 if x <= y and 0 otherwise, for x, y < 2^63.
func constantTimeLessOrEq(x, y uint64) int {
	return int(((y - x) >> 63) ^ 1)
}

// wrapCore is the RFC 3394 §2.2.1 wrapping process W (index-based form).
// out[8:] holds the n ≥ 2 plaintext blocks on entry; on return out[:8] is
// the final A and out[8:] the wrapped blocks.
func wrapCore(block cipher.Block, iv uint64, out []byte) {
	n := len(out)/8 - 1
	var buf [16]byte
	a := iv
	for j := range 6 {
		for i := 1; i <= n; i++ {
			r := out[8*i : 8*i+8]
			binary.BigEndian.PutUint64(buf[:8], a)
			copy(buf[8:], r)
			block.Encrypt(buf[:], buf[:])
			a = binary.BigEndian.Uint64(buf[:8]) ^ uint64(n*j+i)
			copy(r, buf[8:])
		}
	}
	binary.BigEndian.PutUint64(out[:8], a)
	clear(buf[:])
}

// unwrapCore is the RFC 3394 §2.2.2 unwrapping process W⁻¹. in is
// A ‖ R[1..n] with n ≥ 2; the recovered R blocks are written to out
// (len(in)-8 bytes) and the recovered A is returned for the caller to check.
func unwrapCore(block cipher.Block, in, out []byte) uint64 {
	n := len(in)/8 - 1
	copy(out, in[8:])
	a := binary.BigEndian.Uint64(in[:8])
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			r := out[8*(i-1) : 8*i]
			binary.BigEndian.PutUint64(buf[:8], a^uint64(n*j+i))
			copy(buf[8:], r)
			block.Decrypt(buf[:], buf[:])
			a = binary.BigEndian.Uint64(buf[:8])
			copy(r, buf[8:])
		}
	}
	clear(buf[:])
	return a
}
