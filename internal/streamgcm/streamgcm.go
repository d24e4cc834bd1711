// Package streamgcm holds GCM encryption (NIST SP 800-38D) over input that
// arrives in pieces, with the tag at the end: multi-part Encrypt needs it.
//
// It is written here because no well-kept library offers incremental GCM
// with the tag at the end: crypto/cipher and golang.org/x/crypto seal whole
// messages only, and Tink's streaming AEAD writes a segmented format of its
// own, not GCM. Only encryption streams; decryption must check the
// tag before it returns any plaintext, so it buffers and uses the standard
// library's GCM. The tests feed the published test cases of the GCM
// specification (McGrew and Viega) and NIST CAVP gcmEncryptExtIV in pieces
// of several sizes and check the result against them and against
// crypto/cipher's one-shot GCM.
package streamgcm

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"slices"
)

// ErrTooLong is returned when the plaintext would pass the GCM limit of
// 2^39 - 256 bits.
var ErrTooLong = errors.New("streamgcm: the message is too long for GCM")

// Sealer is a GCM encryption in progress.
type Sealer struct {
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
func (g *Sealer) ghashBlock(b []byte) {
	x := gfLoad(b)
	g.y = gf128{g.y.hi ^ x.hi, g.y.lo ^ x.lo}.mul(g.h)
}

// ghashPadded folds data, zero-padded to whole blocks.
func (g *Sealer) ghashPadded(data []byte) {
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

// New returns a GCM encryption under the 16-byte block cipher b (AES) with
// the IV (any non-empty length), the additional data aad and a tag of
// tagLen bytes (at most 16).
func New(b cipher.Block, iv, aad []byte, tagLen int) *Sealer {
	g := new(Sealer)
	g.Init(b, iv, aad, tagLen)
	return g
}

// Init sets g up as [New] does, for a Sealer held inside another value.
func (g *Sealer) Init(b cipher.Block, iv, aad []byte, tagLen int) {
	*g = Sealer{b: b, ksUsed: 16, tagLen: tagLen}
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
	inc32(&g.ctr)
	g.ghashPadded(aad)
	g.aadLen = uint64(len(aad))
}

// inc32 increments the low 32 bits of a counter block, modulo 2^32.
func inc32(ctr *[16]byte) {
	binary.BigEndian.PutUint32(ctr[12:], binary.BigEndian.Uint32(ctr[12:])+1)
}

// Update appends to dst the encryption of src, the next piece of the
// plaintext. Past the GCM length limit it returns dst and [ErrTooLong].
func (g *Sealer) Update(dst, src []byte) ([]byte, error) {
	// SP 800-38D: at most 2^39 - 256 bits of plaintext.
	if g.ctLen+uint64(len(src)) > 1<<36-32 {
		return dst, ErrTooLong
	}
	start := len(dst)
	dst = slices.Grow(dst, len(src))[:start+len(src)]
	out := dst[start:]
	for i := range src {
		if g.ksUsed == 16 {
			g.b.Encrypt(g.ks[:], g.ctr[:])
			inc32(&g.ctr)
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

// Tag ends the encryption and returns the authentication tag.
func (g *Sealer) Tag() []byte {
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
	return tag[:g.tagLen:g.tagLen]
}

// Wipe clears the key-dependent state.
func (g *Sealer) Wipe() {
	g.h, g.y = gf128{}, gf128{}
	clear(g.ej0[:])
	clear(g.ks[:])
	clear(g.part[:])
}
