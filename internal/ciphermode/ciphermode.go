// Package ciphermode holds the block cipher pieces the standard library
// lacks: the Electronic Codebook mode (NIST SP 800-38A §6.1) as a
// cipher.BlockMode, and PKCS#5/#7 padding (RFC 8018 §6.1.1, RFC 5652 §6.3)
// with a constant-time check on removal. The tests check ECB against the
// SP 800-38A appendix F.1 vectors.
package ciphermode

import (
	"crypto/cipher"
	"crypto/subtle"
)

// ecb is the Electronic Codebook mode as a cipher.BlockMode.
type ecb struct {
	b       cipher.Block
	decrypt bool
}

// NewECBEncrypter returns ECB encryption with b.
func NewECBEncrypter(b cipher.Block) cipher.BlockMode { return ecb{b: b} }

// NewECBDecrypter returns ECB decryption with b.
func NewECBDecrypter(b cipher.Block) cipher.BlockMode { return ecb{b: b, decrypt: true} }

func (e ecb) BlockSize() int { return e.b.BlockSize() }

func (e ecb) CryptBlocks(dst, src []byte) {
	bs := e.b.BlockSize()
	for i := 0; i+bs <= len(src); i += bs {
		if e.decrypt {
			e.b.Decrypt(dst[i:i+bs], src[i:i+bs])
		} else {
			e.b.Encrypt(dst[i:i+bs], src[i:i+bs])
		}
	}
}

// PadPKCS5 appends to buf, which holds less than a block of bs bytes, its
// PKCS#5/#7 padding: n bytes of value n, 1 <= n <= bs, filling the block.
func PadPKCS5(buf []byte, bs int) []byte {
	n := bs - len(buf)
	for range n {
		buf = append(buf, byte(n))
	}
	return buf
}

// UnpadPKCS5 returns the padding length of a decrypted last block, checking
// every padding byte without branching on secret data.
func UnpadPKCS5(block []byte) (int, bool) {
	n := int(block[len(block)-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, len(block))
	for i := range block {
		inPad := subtle.ConstantTimeLessOrEq(len(block)-n, i)
		same := subtle.ConstantTimeByteEq(block[i], byte(n))
		good &= same | (inPad ^ 1)
	}
	return n, good == 1
}
