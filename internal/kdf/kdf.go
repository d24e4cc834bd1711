// Package kdf holds key derivation functions: PBKDF2 (RFC 8018) and the
// NIST SP 800-108 KDF in counter mode.
//
// PBKDF2 is written here, rather than taken from crypto/pbkdf2 or
// golang.org/x/crypto/pbkdf2, for wiping: the first wants the password as an
// immutable string, the second leaves its intermediate blocks behind. The tests check both
// against published vectors (RFC 6070, NIST CAVP KBKDF) and PBKDF2 against
// golang.org/x/crypto/pbkdf2. HKDF (RFC 5869) is the standard library's
// crypto/hkdf.
package kdf

import (
	"crypto"
	"crypto/hmac"
	"encoding/binary"
	"hash"
)

// PBKDF2 is PBKDF2 (RFC 8018 §5.2) with PRF HMAC-h: n bytes derived from
// password and salt in iter iterations.
func PBKDF2(h crypto.Hash, password, salt []byte, iter, n int) []byte {
	prf := hmac.New(h.New, password)
	hLen := prf.Size()
	out := make([]byte, 0, (n+hLen-1)/hLen*hLen)
	u := make([]byte, 0, hLen)
	t := make([]byte, hLen)
	var ctr [4]byte
	for block := uint32(1); len(out) < n; block++ {
		prf.Reset()
		prf.Write(salt)
		binary.BigEndian.PutUint32(ctr[:], block)
		prf.Write(ctr[:])
		u = prf.Sum(u[:0])
		copy(t, u)
		for i := 1; i < iter; i++ {
			prf.Reset()
			prf.Write(u)
			u = prf.Sum(u[:0])
			for j := range t {
				t[j] ^= u[j]
			}
		}
		out = append(out, t...)
	}
	clear(u)
	clear(t)
	return truncate(out, n)
}

// Counter is the NIST SP 800-108 KDF in counter mode: K(i) =
// PRF(KI, [i]32 || fixed), i = 1, 2, ..., concatenated and cut to n bytes.
// The fixed input (Label, 0x00, Context, [L]) is the client's to build.
func Counter(prf hash.Hash, fixed []byte, n int) []byte {
	out := make([]byte, 0, n+prf.Size())
	var ctr [4]byte
	for i := uint32(1); len(out) < n; i++ {
		prf.Reset()
		binary.BigEndian.PutUint32(ctr[:], i)
		prf.Write(ctr[:])
		prf.Write(fixed)
		out = prf.Sum(out)
	}
	return truncate(out, n)
}

// truncate keeps the first n bytes of b, wiping the rest.
func truncate(b []byte, n int) []byte {
	clear(b[n:])
	return b[:n:n]
}
