package pkcs11

import (
	"encoding/asn1"
	"encoding/binary"
	"fmt"

	"github.com/kmipd/kmipd/hsm"
)

// Fields of a kind-0x03 (hsm.KindPKCS11Wrap) blob; see the package
// documentation.
const (
	wrapAlgKWP byte = 0x01 // CKM_AES_KEY_WRAP_PAD

	keyTypeAES     byte = 0x01
	keyTypeGeneric byte = 0x02
	keyTypeRSA     byte = 0x03 // PKCS#8 RSA private key
	keyTypeEC      byte = 0x04 // PKCS#8 EC private key

	wrapFixedSize  = hsm.HeaderSize + 1 + 1 + 4                  // header, algorithm, key type, key length
	wrapPrefixSize = wrapFixedSize + hsm.NonceSize + hsm.TagSize // then the wrapped key
	minWrappedSize = 16                                          // KWP of 1..8 bytes
	maxWrappedSize = 2 * MaxGenerate                             // generous bound, also for PKCS#8
	privateKeyLen  = 0                                           // key length field of private keys
	gcmTagBits     = 8 * hsm.TagSize                             // CK_GCM_PARAMS.ulTagBits
)

// wrapBlob is a parsed kind-0x03 blob. Its slices alias the blob.
type wrapBlob struct {
	version uint32
	keyType byte
	keyLen  uint32
	fixed   []byte // blob[:wrapFixedSize], part of the associated data
	iv      []byte
	tag     []byte
	wrapped []byte
}

func parseWrapBlob(blob []byte) (wrapBlob, error) {
	h, err := hsm.BlobKind(blob)
	if err != nil {
		return wrapBlob{}, err
	}
	if h.Kind != hsm.KindPKCS11Wrap {
		return wrapBlob{}, fmt.Errorf("%w: not a PKCS#11 key blob", hsm.ErrBlobCorrupt)
	}
	if len(blob) < wrapPrefixSize+minWrappedSize {
		return wrapBlob{}, fmt.Errorf("%w: %d bytes is too short for a wrapped key", hsm.ErrBlobCorrupt, len(blob))
	}
	if len(blob) > wrapPrefixSize+maxWrappedSize || (len(blob)-wrapPrefixSize)%8 != 0 {
		return wrapBlob{}, fmt.Errorf("%w: wrapped key of %d bytes", hsm.ErrBlobCorrupt, len(blob)-wrapPrefixSize)
	}
	w := wrapBlob{
		version: h.KeyVersion,
		keyType: blob[hsm.HeaderSize+1],
		keyLen:  binary.BigEndian.Uint32(blob[hsm.HeaderSize+2 : wrapFixedSize]),
		fixed:   blob[:wrapFixedSize],
		iv:      blob[wrapFixedSize : wrapFixedSize+hsm.NonceSize],
		tag:     blob[wrapFixedSize+hsm.NonceSize : wrapPrefixSize],
		wrapped: blob[wrapPrefixSize:],
	}
	if alg := blob[hsm.HeaderSize]; alg != wrapAlgKWP {
		return wrapBlob{}, fmt.Errorf("%w: unknown wrapping algorithm 0x%02x", hsm.ErrBlobCorrupt, alg)
	}
	switch w.keyType {
	case keyTypeAES, keyTypeGeneric:
		// KWP output is the input rounded up to 8 bytes, plus 8.
		if w.keyLen == 0 || (uint64(w.keyLen)+7)/8*8+8 != uint64(len(w.wrapped)) {
			return wrapBlob{}, fmt.Errorf("%w: key length %d does not match a %d-byte wrapped key", hsm.ErrBlobCorrupt, w.keyLen, len(w.wrapped))
		}
	case keyTypeRSA, keyTypeEC:
		if w.keyLen != privateKeyLen {
			return wrapBlob{}, fmt.Errorf("%w: private key blob with key length %d", hsm.ErrBlobCorrupt, w.keyLen)
		}
	default:
		return wrapBlob{}, fmt.Errorf("%w: unknown key type 0x%02x", hsm.ErrBlobCorrupt, w.keyType)
	}
	return w, nil
}

// private reports whether the blob holds a private key (PKCS#8).
func (w *wrapBlob) private() bool { return w.keyType == keyTypeRSA || w.keyType == keyTypeEC }

// appendWrapFixed appends the fixed part of a kind-0x03 blob to dst.
func appendWrapFixed(dst []byte, version uint32, keyType byte, keyLen uint32) []byte {
	dst = hsm.AppendHeader(dst, hsm.Header{Kind: hsm.KindPKCS11Wrap, KeyVersion: version})
	dst = append(dst, wrapAlgKWP, keyType)
	return binary.BigEndian.AppendUint32(dst, keyLen)
}

// appendWrapAAD appends the associated data of the binding tag to dst.
func appendWrapAAD(dst, fixed, wrapped []byte, id string) []byte {
	dst = append(dst, fixed...)
	dst = append(dst, wrapped...)
	return hsm.AppendAAD(dst, id)
}

// derLength returns the length of the DER element at the start of b, which
// may be followed by zero padding (SoftHSM pads wrapped PKCS#8 to a
// multiple of 8 bytes).
func derLength(b []byte) (int, error) {
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(b, &raw)
	if err != nil {
		return 0, fmt.Errorf("%w: unwrapped private key is not DER: %v", hsm.ErrBlobCorrupt, err)
	}
	if len(rest) >= 8 {
		return 0, fmt.Errorf("%w: %d bytes after the private key", hsm.ErrBlobCorrupt, len(rest))
	}
	for _, c := range rest {
		if c != 0 {
			return 0, fmt.Errorf("%w: non-zero padding after the private key", hsm.ErrBlobCorrupt)
		}
	}
	return len(b) - len(rest), nil
}
