package lifecycle

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"slices"

	"golang.org/x/crypto/chacha20"

	"github.com/kmipd/kmipd/internal/ciphermode"
	"github.com/kmipd/kmipd/internal/streamgcm"
	"github.com/kmipd/kmipd/kmip"
)

// cipherPart is a symmetric encryption or decryption in progress.
type cipherPart interface {
	// update appends to dst the output that src (after what came before)
	// allows.
	update(dst, src []byte) ([]byte, error)
	// final appends the rest of the output; for authenticated encryption
	// it returns the tag, for authenticated decryption it checks tag.
	final(dst, tag []byte) (out, outTag []byte, err error)
	// buffers reports whether the part keeps all its input until final.
	buffers() bool
	wipe()
}

// newCipherPart returns the part for the unauthenticated modes.
func newCipherPart(su *symSetup, key []byte, encrypt bool) (cipherPart, error) {
	if su.alg == kmip.CryptographicAlgorithmChaCha20 {
		return newChaCha20(su, key)
	}
	b, err := newBlock(su, key)
	if err != nil {
		return nil, err
	}
	switch su.mode {
	case kmip.BlockCipherModeCTR:
		return &streamPart{s: cipher.NewCTR(b, su.iv), left: ^uint64(0)}, nil
	case kmip.BlockCipherModeECB:
		var bm cipher.BlockMode
		if encrypt {
			bm = ciphermode.NewECBEncrypter(b)
		} else {
			bm = ciphermode.NewECBDecrypter(b)
		}
		return &blockPart{bm: bm, bs: b.BlockSize(), pad: su.pad, decrypt: !encrypt}, nil
	case kmip.BlockCipherModeCBC:
		var bm cipher.BlockMode
		if encrypt {
			bm = cipher.NewCBCEncrypter(b, su.iv)
		} else {
			bm = cipher.NewCBCDecrypter(b, su.iv)
		}
		return &blockPart{bm: bm, bs: b.BlockSize(), pad: su.pad, decrypt: !encrypt}, nil
	}
	return nil, errUnsupportedParams("unsupported mode %s", su.mode)
}

// newStreamPart returns the part of a multi-part operation.
func newStreamPart(su *symSetup, key []byte, encrypt bool, aad []byte) (cipherPart, error) {
	if !su.aead() {
		return newCipherPart(su, key, encrypt)
	}
	if su.mode == kmip.BlockCipherModeGCM && encrypt {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		p := new(gcmPart)
		p.Init(b, su.iv, aad, su.tagLen)
		return p, nil
	}
	a, err := newAEAD(su, key)
	if err != nil {
		return nil, err
	}
	return &aeadPart{a: a, iv: slices.Clone(su.iv), aad: slices.Clone(aad), tagLen: su.tagLen, encrypt: encrypt}, nil
}

// blockPart runs ECB or CBC over input arriving in pieces.
type blockPart struct {
	bm      cipher.BlockMode
	bs      int
	pad     bool
	decrypt bool
	buf     []byte // input not processed yet: less than a block, or (decrypting with padding) the last block
}

func (b *blockPart) buffers() bool { return false }

func (b *blockPart) update(dst, src []byte) ([]byte, error) {
	total := len(b.buf) + len(src)
	keep := total % b.bs
	if b.decrypt && b.pad && keep == 0 && total > 0 {
		keep = b.bs // the last block may be padding
	}
	n := total - keep
	if n <= 0 {
		b.buf = append(b.buf, src...)
		return dst, nil
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	i := 0
	if len(b.buf) > 0 {
		k := b.bs - len(b.buf)
		b.buf = append(b.buf, src[:k]...)
		src = src[k:]
		b.bm.CryptBlocks(out[:b.bs], b.buf)
		clear(b.buf)
		b.buf = b.buf[:0]
		i = b.bs
	}
	m := n - i
	b.bm.CryptBlocks(out[i:n], src[:m])
	b.buf = append(b.buf, src[m:]...)
	return dst, nil
}

func (b *blockPart) final(dst, _ []byte) ([]byte, []byte, error) {
	switch {
	case !b.decrypt && b.pad:
		b.buf = ciphermode.PadPKCS5(b.buf, b.bs)
		start := len(dst)
		dst = slices.Grow(dst, b.bs)[:start+b.bs]
		b.bm.CryptBlocks(dst[start:], b.buf)
	case !b.decrypt:
		if len(b.buf) != 0 {
			return dst, nil, errBadParams("the data is not a whole number of %d-byte blocks and no padding was asked for", b.bs)
		}
	case b.pad:
		if len(b.buf) != b.bs {
			return dst, nil, errCrypto("the ciphertext is not a whole number of blocks")
		}
		start := len(dst)
		dst = slices.Grow(dst, b.bs)[:start+b.bs]
		last := dst[start:]
		b.bm.CryptBlocks(last, b.buf)
		n, ok := ciphermode.UnpadPKCS5(last)
		if !ok {
			clear(last)
			return dst[:start], nil, errCrypto("invalid padding")
		}
		clear(last[b.bs-n:])
		dst = dst[:start+b.bs-n]
	default:
		if len(b.buf) != 0 {
			return dst, nil, errCrypto("the ciphertext is not a whole number of blocks")
		}
	}
	clear(b.buf)
	b.buf = b.buf[:0]
	return dst, nil, nil
}

func (b *blockPart) wipe() { clear(b.buf) }

// streamPart runs CTR or ChaCha20; left bounds the bytes the keystream has
// (ChaCha20's 32-bit block counter must not wrap).
type streamPart struct {
	s    cipher.Stream
	left uint64
}

func (p *streamPart) buffers() bool { return false }

func (p *streamPart) update(dst, src []byte) ([]byte, error) {
	if uint64(len(src)) > p.left {
		return dst, errCrypto("the counter would wrap")
	}
	p.left -= uint64(len(src))
	start := len(dst)
	dst = slices.Grow(dst, len(src))[:start+len(src)]
	p.s.XORKeyStream(dst[start:], src)
	return dst, nil
}

func (p *streamPart) final(dst, _ []byte) ([]byte, []byte, error) { return dst, nil, nil }

func (p *streamPart) wipe() {}

// newChaCha20 returns ChaCha20 keyed and positioned as su says.
func newChaCha20(su *symSetup, key []byte) (cipherPart, error) {
	var nonce [12]byte
	ctr := su.ctr
	switch len(su.iv) {
	case 8: // original ChaCha20: 64-bit counter (high half 0), 64-bit nonce
		copy(nonce[4:], su.iv)
	case 12:
		copy(nonce[:], su.iv)
	case 16: // little-endian counter, then the RFC 8439 nonce
		ctr = binary.LittleEndian.Uint32(su.iv[:4])
		copy(nonce[:], su.iv[4:])
	}
	s, err := chacha20.NewUnauthenticatedCipher(key, nonce[:])
	if err != nil {
		return nil, err
	}
	s.SetCounter(ctr)
	return &streamPart{s: s, left: (1<<32 - uint64(ctr)) * 64}, nil
}

// aeadPart buffers an authenticated encryption or decryption until final.
type aeadPart struct {
	a       cipher.AEAD
	iv, aad []byte
	tagLen  int
	encrypt bool
	in      []byte
}

func (p *aeadPart) buffers() bool { return true }

func (p *aeadPart) update(dst, src []byte) ([]byte, error) {
	p.in = append(p.in, src...)
	return dst, nil
}

func (p *aeadPart) final(dst, tag []byte) ([]byte, []byte, error) {
	if p.encrypt {
		out, t := aeadSeal(p.a, dst, p.iv, p.in, p.aad, p.tagLen)
		return out, t, nil
	}
	if tag == nil {
		return dst, nil, errMissing("missing Authenticated Encryption Tag")
	}
	if p.tagLen != 0 && len(tag) != p.tagLen || len(tag) < 12 || len(tag) > 16 {
		return dst, nil, errCrypto("invalid tag length %d", len(tag))
	}
	out, err := aeadOpen(p.a, dst, p.iv, p.in, tag, p.aad)
	return out, nil, err
}

func (p *aeadPart) wipe() { clear(p.in) }

// gcmPart is multi-part AES-GCM encryption; it streams, where the
// standard library only seals whole messages.
type gcmPart struct{ streamgcm.Sealer }

func (p *gcmPart) buffers() bool { return false }

func (p *gcmPart) update(dst, src []byte) ([]byte, error) {
	out, err := p.Update(dst, src)
	if err != nil {
		return dst, errCrypto("the message is too long for GCM")
	}
	return out, nil
}

func (p *gcmPart) final(dst, _ []byte) ([]byte, []byte, error) { return dst, p.Tag(), nil }

func (p *gcmPart) wipe() { p.Wipe() }
