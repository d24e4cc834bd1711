package pkcs11

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"
)

// DefaultKEKLabel is the default CKA_LABEL prefix of the master keys.
const DefaultKEKLabel = "kmipd-kek"

// MaxGenerate is the largest nbytes GenerateSymmetric accepts.
const MaxGenerate = 64 << 10

// RecoveryInterval is the least time between two recovery attempts of a
// backend marked unavailable; in between, operations fail at once.
const RecoveryInterval = 2 * time.Second

// ErrNoCgo is returned by Open and CreateKEK in a build without cgo.
var ErrNoCgo = errors.New("pkcs11: this kmipd was built without cgo; the PKCS#11 backend needs CGO_ENABLED=1 and a C compiler")

// ErrKEKExists is returned (wrapped) by CreateKEK when the token already
// holds a key with the label of the master key to create.
var ErrKEKExists = errors.New("pkcs11: master key already exists on the token")

// Options configures Open and CreateKEK.
type Options struct {
	// Module is the path of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// Token is the token label (CKA_LABEL of the token, without the blank
	// padding). The slot is found by label at every (re)connection, since
	// slot IDs change between processes.
	Token string
	// PIN is the user PIN. It is kept in memory to log in again after the
	// token logged the process out.
	PIN string
	// KEKLabel is the label prefix of the master keys (DefaultKEKLabel if
	// empty).
	KEKLabel string
	// KEKVersion is the current master-key version (1 if 0): new blobs are
	// protected under it, and it must exist on the token.
	KEKVersion uint32
	// PoolSize bounds the sessions used concurrently (default
	// 2×GOMAXPROCS, at most 64).
	PoolSize int
	// PoolWait bounds how long an operation waits for a session when all
	// are busy (DefaultPoolWait if 0); it then fails with hsm.ErrBusy. The
	// request's context may end the wait sooner.
	PoolWait time.Duration
	// HealthInterval is the period of the background health check
	// (DefaultHealthInterval if 0; negative disables it). Operations use
	// session copies of the master keys, which keep working from memory
	// when a token's storage disappears; the health check notices, and
	// the backend then fails closed.
	HealthInterval time.Duration
	// KeyCache is how many unwrapped keys each pooled session keeps for
	// the hsm.Cipher operations (0: none, every operation unwraps its key
	// and destroys it; at most MaxKeyCache). The keys are sensitive,
	// non-extractable session objects, so the HSM holds at most
	// KeyCache × PoolSize of them; see the package documentation.
	KeyCache int
}

// DefaultKeyCache is the KeyCache kmipd configures unless told otherwise.
const DefaultKeyCache = 64

// MaxKeyCache is the largest KeyCache: HSMs bound their session objects.
const MaxKeyCache = 4096

// DefaultPoolWait is the default of Options.PoolWait.
const DefaultPoolWait = 10 * time.Second

// DefaultHealthInterval is the default period of the background health
// check.
const DefaultHealthInterval = 2 * time.Second

func (o *Options) setDefaults() error {
	if o.Module == "" {
		return errors.New("pkcs11: no PKCS#11 module path")
	}
	if o.Token == "" {
		return errors.New("pkcs11: no token label")
	}
	if o.PIN == "" {
		return errors.New("pkcs11: no user PIN")
	}
	if o.KEKLabel == "" {
		o.KEKLabel = DefaultKEKLabel
	}
	if len(o.KEKLabel) > 64 {
		return fmt.Errorf("pkcs11: KEK label %q is longer than 64 bytes", o.KEKLabel)
	}
	if o.KEKVersion == 0 {
		o.KEKVersion = 1
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.PoolWait <= 0 {
		o.PoolWait = DefaultPoolWait
	}
	if o.KeyCache < 0 || o.KeyCache > MaxKeyCache {
		return fmt.Errorf("pkcs11: key cache of %d keys per session: want 0 (off) to %d", o.KeyCache, MaxKeyCache)
	}
	if o.PoolSize <= 0 {
		o.PoolSize = min(2*runtime.GOMAXPROCS(0), 64)
	}
	return nil
}

// kekLabel returns the CKA_LABEL of master-key version v: the wrap KEK, or
// the GCM KEK if gcm.
func kekLabel(prefix string, v uint32, gcm bool) string {
	if gcm {
		return prefix + "-gcm-v" + strconv.FormatUint(uint64(v), 10)
	}
	return prefix + "-v" + strconv.FormatUint(uint64(v), 10)
}

// kekID returns the CKA_ID of master-key version v.
func kekID(v uint32, gcm bool) []byte {
	p := byte('W')
	if gcm {
		p = 'G'
	}
	return []byte{p, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
