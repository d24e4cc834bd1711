package soft

import "github.com/kmipd/kmipd/internal/keywrap"

// AES Key Wrap (RFC 3394) and AES Key Wrap with Padding (RFC 5649), as the
// software backend offers them: the implementation is internal/keywrap's,
// shared with the operations layer.

// ErrUnwrap is returned (wrapped) when unwrapping fails its integrity check:
// wrong KEK, tampered or truncated ciphertext, or a KW/KWP mix-up.
var ErrUnwrap = keywrap.ErrUnwrap

// WrapKey wraps plaintext under kek with AES Key Wrap (RFC 3394, default IV);
// see [keywrap.WrapKey].
func WrapKey(kek, plaintext []byte) ([]byte, error) { return keywrap.WrapKey(kek, plaintext) }

// UnwrapKey reverses [WrapKey].
func UnwrapKey(kek, ciphertext []byte) ([]byte, error) { return keywrap.UnwrapKey(kek, ciphertext) }

// WrapKeyPad wraps plaintext under kek with AES Key Wrap with Padding
// (RFC 5649); see [keywrap.WrapKeyPad].
func WrapKeyPad(kek, plaintext []byte) ([]byte, error) { return keywrap.WrapKeyPad(kek, plaintext) }

// UnwrapKeyPad reverses [WrapKeyPad].
func UnwrapKeyPad(kek, ciphertext []byte) ([]byte, error) {
	return keywrap.UnwrapKeyPad(kek, ciphertext)
}
