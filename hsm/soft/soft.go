// Package soft is the software [hsm.Backend]: key material is sealed with
// AES-256-GCM under a 32-byte master key read from a local file.
//
// It writes blobs in the hsm version-1 format with kind [hsm.KindSoftware].
// The master key loaded by [Open] is master-key version 1.
//
// The master key file holds exactly 32 raw bytes and must not be accessible
// to group or other (mode 0600 or 0400); [CreateMasterKey] makes one.
package soft

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/kmipd/kmipd/hsm"
)

// MasterKeySize is the length of a master key file in bytes.
const MasterKeySize = 32

// MaxGenerate is the largest nbytes GenerateSymmetric accepts.
const MaxGenerate = 64 << 10

// masterKeyVersion is the version of the key loaded by Open.
const masterKeyVersion uint32 = 1

var _ hsm.Backend = (*Backend)(nil)

// Backend is the software backend. It is safe for concurrent use.
type Backend struct {
	ring atomic.Pointer[keyring] // nil after Close
}

// keyring holds one cached AEAD per master-key version.
type keyring struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
}

// aadPool recycles associated-data scratch buffers so that Open does not
// allocate (the buffer escapes through the cipher.AEAD interface).
var aadPool = sync.Pool{New: func() any { b := make([]byte, 0, 96); return &b }}

// maxPooledAAD bounds the buffers kept in aadPool.
const maxPooledAAD = 1024

var errClosed = fmt.Errorf("%w: software backend is closed", hsm.ErrUnavailable)

// Open loads the master key from masterKeyPath and returns a backend that
// uses it as master-key version 1.
//
// It refuses a file that is not a regular file, is not exactly
// [MasterKeySize] bytes long, or whose permission bits allow anything beyond
// owner read/write (it must be 0600 or 0400).
func Open(masterKeyPath string) (*Backend, error) {
	key, err := readMasterKey(masterKeyPath)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("soft: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("soft: %w", err)
	}
	b := &Backend{}
	b.ring.Store(&keyring{
		current: masterKeyVersion,
		aeads:   map[uint32]cipher.AEAD{masterKeyVersion: aead},
	})
	return b, nil
}

func readMasterKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("soft: master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("soft: master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("soft: master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
		return nil, fmt.Errorf("soft: master key %s has mode %04o; it must be 0600 or 0400 (chmod 600 %s)", path, perm, path)
	}
	if fi.Size() != MasterKeySize {
		return nil, fmt.Errorf("soft: master key %s is %d bytes, want %d", path, fi.Size(), MasterKeySize)
	}
	key := make([]byte, MasterKeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		clear(key)
		return nil, fmt.Errorf("soft: read master key %s: %w", path, err)
	}
	var extra [1]byte
	if n, _ := f.Read(extra[:]); n != 0 {
		clear(key)
		return nil, fmt.Errorf("soft: master key %s grew while being read", path)
	}
	return key, nil
}

// CreateMasterKey writes a new random master key to path with mode 0600. It
// never overwrites: if path exists it returns an error wrapping fs.ErrExist.
func CreateMasterKey(path string) error {
	var key [MasterKeySize]byte
	defer clear(key[:])
	rand.Read(key[:])

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("soft: create master key: %w", err)
	}
	err = f.Chmod(0o600) // independent of the umask
	if err == nil {
		_, err = f.Write(key[:])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("soft: write master key %s: %w", path, err)
	}
	// Make the directory entry durable; best effort.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Name returns "software".
func (b *Backend) Name() string { return hsm.KindSoftware.String() }

func (b *Backend) keyring(ctx context.Context) (*keyring, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := b.ring.Load()
	if r == nil {
		return nil, errClosed
	}
	return r, nil
}

// seal returns a blob for id holding n bytes: a copy of src, or fresh random
// bytes if src is nil. The plaintext is placed in the blob's payload area and
// encrypted in place, so no plaintext copy is left behind.
func (b *Backend) seal(ctx context.Context, id string, n int, src []byte) ([]byte, error) {
	r, err := b.keyring(ctx)
	if err != nil {
		return nil, err
	}
	const pre = hsm.HeaderSize + hsm.NonceSize
	blob := make([]byte, pre+n, hsm.Overhead+n)
	hsm.AppendHeader(blob[:0], hsm.Header{Kind: hsm.KindSoftware, KeyVersion: r.current})
	nonce := blob[hsm.HeaderSize:pre]
	rand.Read(nonce)
	payload := blob[pre:]
	if src == nil {
		rand.Read(payload)
	} else {
		copy(payload, src)
	}

	ap := aadPool.Get().(*[]byte)
	aad := hsm.AppendAAD((*ap)[:0], id)
	blob = r.aeads[r.current].Seal(blob[:pre], nonce, payload, aad)
	putAAD(ap, aad)
	return blob, nil
}

// GenerateSymmetric returns a blob holding nbytes fresh random bytes
// (1 ≤ nbytes ≤ MaxGenerate).
func (b *Backend) GenerateSymmetric(ctx context.Context, id string, nbytes int) ([]byte, error) {
	if nbytes <= 0 || nbytes > MaxGenerate {
		return nil, fmt.Errorf("soft: cannot generate %d bytes of key material", nbytes)
	}
	return b.seal(ctx, id, nbytes, nil)
}

// Seal returns a blob protecting plaintext for object id.
func (b *Backend) Seal(ctx context.Context, id string, plaintext []byte) ([]byte, error) {
	if plaintext == nil {
		plaintext = []byte{}
	}
	return b.seal(ctx, id, len(plaintext), plaintext)
}

// Open decrypts blob, which must have been sealed for id, and appends the
// plaintext to dst. It does not allocate when dst has enough spare capacity.
// dst must not overlap blob.
func (b *Backend) Open(ctx context.Context, id string, blob []byte, dst []byte) ([]byte, error) {
	r, err := b.keyring(ctx)
	if err != nil {
		return nil, err
	}
	h, nonce, sealed, err := hsm.ParseBlob(blob)
	if err != nil {
		return nil, err
	}
	if h.Kind != hsm.KindSoftware {
		return nil, fmt.Errorf("%w: blob was sealed by the %v backend", hsm.ErrKeyVersion, h.Kind)
	}
	aead := r.aeads[h.KeyVersion]
	if aead == nil {
		return nil, fmt.Errorf("%w: master-key version %d is not loaded", hsm.ErrKeyVersion, h.KeyVersion)
	}
	ap := aadPool.Get().(*[]byte)
	aad := hsm.AppendAAD((*ap)[:0], id)
	out, err := aead.Open(dst, nonce, sealed, aad) // clears its output on failure
	putAAD(ap, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed for object %q", hsm.ErrBlobCorrupt, id)
	}
	return out, nil
}

func putAAD(ap *[]byte, aad []byte) {
	if cap(aad) > maxPooledAAD {
		return
	}
	*ap = aad[:0]
	aadPool.Put(ap)
}

// Random fills p from crypto/rand.
func (b *Backend) Random(ctx context.Context, p []byte) error {
	if _, err := b.keyring(ctx); err != nil {
		return err
	}
	rand.Read(p)
	return nil
}

// Close drops the master key. Later calls fail with hsm.ErrUnavailable.
// Close is idempotent.
func (b *Backend) Close() error {
	b.ring.Store(nil)
	return nil
}
