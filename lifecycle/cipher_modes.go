package lifecycle

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"slices"

	"golang.org/x/crypto/chacha20"

	"github.com/kmipd/kmipd/internal/ciphermode"
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
		return newGCMStream(b, su.iv, aad, su.tagLen), nil
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

// gcmStream is AES-GCM encryption (NIST SP 800-38D) over input arriving in
// pieces, for multi-part Encrypt: the standard library only seals whole
// messages. Single-part operations use the standard library's GCM; the
// tests check this one against it.
type gcmStream struct {
	b       cipher.Block
	h       gf128    // hash subkey E(0)
	ej0     [16]byte // E(J0), masks the tag
	ctr     [16]byte // next counter block
	ks      [16]byte // keystream block in use
	ksUsed  int      // bytes of ks consumed (16: none left)
	y       gf128    // GHASH accumulator
	part    [16]byte // ciphertext not yet hashed
	partLen int
	aadLen  uint64
	ctLen   uint64
	tagLen  int
}

// gf128 is an element of GF(2^128) in GCM's bit order: hi holds the first
// eight bytes of the block, big-endian.
type gf128 struct{ hi, lo uint64 }

func gfLoad(b []byte) gf128 {
	return gf128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])}
}

// mul returns x·y (SP 800-38D algorithm 1).
func (x gf128) mul(y gf128) gf128 {
	var z gf128
	v := y
	for i := 0; i < 128; i++ {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		mask := -bit
		z.hi ^= v.hi & mask
		z.lo ^= v.lo & mask
		lsb := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi = v.hi>>1 ^ 0xe100000000000000&-lsb
	}
	return z
}

// ghashBlock folds one 16-byte block into the accumulator.
func (g *gcmStream) ghashBlock(b []byte) {
	x := gfLoad(b)
	g.y = gf128{g.y.hi ^ x.hi, g.y.lo ^ x.lo}.mul(g.h)
}

// ghashPadded folds data, zero-padded to whole blocks.
func (g *gcmStream) ghashPadded(data []byte) {
	for len(data) >= 16 {
		g.ghashBlock(data[:16])
		data = data[16:]
	}
	if len(data) > 0 {
		var last [16]byte
		copy(last[:], data)
		g.ghashBlock(last[:])
	}
}

func newGCMStream(b cipher.Block, iv, aad []byte, tagLen int) *gcmStream {
	g := &gcmStream{b: b, ksUsed: 16, tagLen: tagLen}
	var zero [16]byte
	var hk [16]byte
	b.Encrypt(hk[:], zero[:])
	g.h = gfLoad(hk[:])
	var j0 [16]byte
	if len(iv) == 12 {
		copy(j0[:], iv)
		j0[15] = 1
	} else {
		// J0 = GHASH(IV || 0-pad || [0]64 || [len(IV) in bits]64).
		g.ghashPadded(iv)
		var lens [16]byte
		binary.BigEndian.PutUint64(lens[8:], uint64(len(iv))*8)
		g.ghashBlock(lens[:])
		binary.BigEndian.PutUint64(j0[:8], g.y.hi)
		binary.BigEndian.PutUint64(j0[8:], g.y.lo)
		g.y = gf128{}
	}
	b.Encrypt(g.ej0[:], j0[:])
	g.ctr = j0
	gcmInc32(&g.ctr)
	g.ghashPadded(aad)
	g.aadLen = uint64(len(aad))
	return g
}

// gcmInc32 increments the low 32 bits of a counter block, modulo 2^32.
func gcmInc32(ctr *[16]byte) {
	binary.BigEndian.PutUint32(ctr[12:], binary.BigEndian.Uint32(ctr[12:])+1)
}

func (g *gcmStream) buffers() bool { return false }

func (g *gcmStream) update(dst, src []byte) ([]byte, error) {
	// SP 800-38D: at most 2^39 - 256 bits of plaintext.
	if g.ctLen+uint64(len(src)) > 1<<36-32 {
		return dst, errCrypto("the message is too long for GCM")
	}
	start := len(dst)
	dst = slices.Grow(dst, len(src))[:start+len(src)]
	out := dst[start:]
	for i := range src {
		if g.ksUsed == 16 {
			g.b.Encrypt(g.ks[:], g.ctr[:])
			gcmInc32(&g.ctr)
			g.ksUsed = 0
		}
		out[i] = src[i] ^ g.ks[g.ksUsed]
		g.ksUsed++
		g.part[g.partLen] = out[i]
		g.partLen++
		if g.partLen == 16 {
			g.ghashBlock(g.part[:])
			g.partLen = 0
		}
	}
	g.ctLen += uint64(len(src))
	return dst, nil
}

func (g *gcmStream) final(dst, _ []byte) ([]byte, []byte, error) {
	if g.partLen > 0 {
		clear(g.part[g.partLen:])
		g.ghashBlock(g.part[:])
		g.partLen = 0
	}
	var lens [16]byte
	binary.BigEndian.PutUint64(lens[:8], g.aadLen*8)
	binary.BigEndian.PutUint64(lens[8:], g.ctLen*8)
	g.ghashBlock(lens[:])
	var tag [16]byte
	binary.BigEndian.PutUint64(tag[:8], g.y.hi)
	binary.BigEndian.PutUint64(tag[8:], g.y.lo)
	subtle.XORBytes(tag[:], tag[:], g.ej0[:])
	return dst, tag[:g.tagLen:g.tagLen], nil
}

func (g *gcmStream) wipe() {
	g.h, g.y = gf128{}, gf128{}
	clear(g.ej0[:])
	clear(g.ks[:])
	clear(g.part[:])
}
