package authn

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id parameters of a new hash (RFC 9106 §3.1).
type HashParams struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
	SaltLen int
	KeyLen  uint32
}

// DefaultHashParams follow RFC 9106 §4's second recommended option
// (t=3, 64 MiB): tens of milliseconds a verification, and 64 MiB of memory
// each, which is why Passwords bounds concurrent verifications.
var DefaultHashParams = HashParams{Time: 3, Memory: 64 * 1024, Threads: 4, SaltLen: 16, KeyLen: 32}

// Limits on a stored hash's parameters, so that a mistyped config cannot
// make one verification take gigabytes or minutes.
const (
	maxHashMemory = 1 << 20 // KiB: 1 GiB
	maxHashTime   = 64
)

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=M,t=T,p=P$salt$hash, salt and hash in unpadded base64.
func HashPassword(password []byte, p HashParams) (string, error) {
	if p.SaltLen < 8 || p.KeyLen < 16 || p.Time == 0 || p.Memory < 8*uint32(p.Threads) || p.Threads == 0 {
		return "", errors.New("authn: argon2id parameters too weak")
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// parsePHC reads an argon2id PHC string as HashPassword writes it.
func parsePHC(s string) (*phc, error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return nil, errors.New("not an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("argon2 version %q: want v=%d", f[2], argon2.Version)
	}
	h := &phc{}
	for _, kv := range strings.Split(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parameter %q", kv)
		}
		switch k {
		case "m":
			h.memory = uint32(n)
		case "t":
			h.time = uint32(n)
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("parameter %q", kv)
			}
			h.threads = uint8(n)
		default:
			return nil, fmt.Errorf("unknown parameter %q", kv)
		}
	}
	switch {
	case h.time == 0 || h.time > maxHashTime:
		return nil, fmt.Errorf("t=%d: want 1 to %d", h.time, maxHashTime)
	case h.threads == 0:
		return nil, errors.New("p must be at least 1")
	case h.memory < 8*uint32(h.threads) || h.memory > maxHashMemory:
		return nil, fmt.Errorf("m=%d: want %d to %d KiB", h.memory, 8*uint32(h.threads), maxHashMemory)
	}
	var err error
	if h.salt, err = b64.DecodeString(f[4]); err != nil || len(h.salt) < 8 {
		return nil, errors.New("salt: want at least 8 bytes in unpadded base64")
	}
	if h.key, err = b64.DecodeString(f[5]); err != nil || len(h.key) < 16 {
		return nil, errors.New("hash: want at least 16 bytes in unpadded base64")
	}
	return h, nil
}

// verify reports whether password matches, in time independent of where
// the keys differ.
func (h *phc) verify(password []byte) bool {
	k := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(k, h.key) == 1
}

// CheckPasswordHash reports whether s is an argon2id PHC string kmipd
// accepts (for configuration checks).
func CheckPasswordHash(s string) error {
	_, err := parsePHC(s)
	return err
}
