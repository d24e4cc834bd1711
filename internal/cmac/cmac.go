// Package cmac holds CMAC, the block-cipher MAC of NIST SP 800-38B (for
// AES it is RFC 4493's AES-CMAC), as a streaming hash.Hash over a
// cipher.Block with a 16-byte (AES) or 8-byte (Triple DES) block.
//
// It is written here because neither the standard library nor
// golang.org/x/crypto has CMAC, and the one-shot AES-only CMACs of other
// libraries cannot serve multi-part MAC or Triple DES keys. The tests check
// the examples of SP 800-38B appendix D and RFC 4493 §4.
package cmac

import (
	"crypto/cipher"
	"crypto/subtle"
	"hash"
)

// CMAC is CMAC (NIST SP 800-38B) as a hash.Hash, for AES (Rb = 0x87) and
// Triple DES (Rb = 0x1B).
type CMAC struct {
	b      cipher.Block
	bs     int
	k1, k2 [16]byte
	x      [16]byte // chaining value
	buf    [16]byte // the last block seen, kept until Sum
	n      int      // bytes in buf
}

// New returns the CMAC of block cipher b, which must have a 16- or 8-byte
// block.
func New(b cipher.Block) *CMAC {
	m := &CMAC{b: b, bs: b.BlockSize()}
	var l [16]byte
	b.Encrypt(l[:m.bs], l[:m.bs])
	m.dbl(m.k1[:m.bs], l[:m.bs])
	m.dbl(m.k2[:m.bs], m.k1[:m.bs])
	clear(l[:])
	return m
}

// dbl sets dst to src·x in GF(2^(8·bs)) (SP 800-38B §6.1).
func (m *CMAC) dbl(dst, src []byte) {
	var carry byte
	for i := len(src) - 1; i >= 0; i-- {
		b := src[i]
		dst[i] = b<<1 | carry
		carry = b >> 7
	}
	rb := byte(0x87)
	if m.bs == 8 {
		rb = 0x1b
	}
	dst[len(dst)-1] ^= rb & -carry
}

func (m *CMAC) Write(p []byte) (int, error) {
	n := len(p)
	bs := m.bs
	for len(p) > 0 {
		if m.n == bs {
			subtle.XORBytes(m.x[:bs], m.x[:bs], m.buf[:bs])
			m.b.Encrypt(m.x[:bs], m.x[:bs])
			m.n = 0
		}
		k := copy(m.buf[m.n:bs], p)
		m.n += k
		p = p[k:]
	}
	return n, nil
}

func (m *CMAC) Sum(in []byte) []byte {
	bs := m.bs
	var last, x [16]byte
	copy(last[:], m.buf[:m.n])
	if m.n == bs {
		subtle.XORBytes(last[:bs], last[:bs], m.k1[:bs])
	} else {
		last[m.n] = 0x80
		subtle.XORBytes(last[:bs], last[:bs], m.k2[:bs])
	}
	subtle.XORBytes(x[:bs], m.x[:bs], last[:bs])
	m.b.Encrypt(x[:bs], x[:bs])
	return append(in, x[:bs]...)
}

func (m *CMAC) Reset() {
	clear(m.x[:])
	clear(m.buf[:])
	m.n = 0
}

func (m *CMAC) Size() int      { return m.bs }
func (m *CMAC) BlockSize() int { return m.bs }

var _ hash.Hash = (*CMAC)(nil)
