package rotation_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// fakeToken stands in for the PKCS#11 backend (named "pkcs11", versioned
// master keys): AES-256-GCM blobs in the layout of hsm.ParseBlob, of kind
// KindPKCS11, or KindPKCS11Wrap when sealed by SealKey.
type fakeToken struct {
	mu       sync.Mutex
	current  uint32
	keys     map[uint32]cipher.AEAD
	retired  []uint32
	sealKeys int // SealKey calls
	closed   bool
}

func newFakeToken(t *testing.T) *fakeToken {
	f := &fakeToken{keys: map[uint32]cipher.AEAD{}}
	if err := f.UseKeyVersion(context.Background(), 1, true); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeToken) Name() string { return "pkcs11" }

func (f *fakeToken) seal(id string, kind hsm.Kind, pt []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	blob := hsm.AppendHeader(nil, hsm.Header{Kind: kind, KeyVersion: f.current})
	nonce := make([]byte, hsm.NonceSize)
	rand.Read(nonce)
	blob = append(blob, nonce...)
	return f.keys[f.current].Seal(blob, nonce, pt, hsm.AppendAAD(nil, id)), nil
}

func (f *fakeToken) GenerateSymmetric(_ context.Context, id string, n int) ([]byte, error) {
	pt := make([]byte, n)
	rand.Read(pt)
	return f.seal(id, hsm.KindPKCS11Wrap, pt)
}

func (f *fakeToken) Seal(_ context.Context, id string, pt []byte) ([]byte, error) {
	return f.seal(id, hsm.KindPKCS11, pt)
}

func (f *fakeToken) SealKey(_ context.Context, id string, key []byte) ([]byte, error) {
	f.mu.Lock()
	f.sealKeys++
	f.mu.Unlock()
	return f.seal(id, hsm.KindPKCS11Wrap, key)
}

func (f *fakeToken) Open(_ context.Context, id string, blob, dst []byte) ([]byte, error) {
	h, nonce, sealed, err := hsm.ParseBlob(blob)
	if err != nil {
		return nil, err
	}
	if h.Kind != hsm.KindPKCS11 && h.Kind != hsm.KindPKCS11Wrap {
		return nil, fmt.Errorf("%w: a %v blob", hsm.ErrKeyVersion, h.Kind)
	}
	f.mu.Lock()
	aead := f.keys[h.KeyVersion]
	f.mu.Unlock()
	if aead == nil {
		return nil, fmt.Errorf("%w: version %d", hsm.ErrKeyVersion, h.KeyVersion)
	}
	out, err := aead.Open(dst, nonce, sealed, hsm.AppendAAD(nil, id))
	if err != nil {
		return nil, fmt.Errorf("%w: %q", hsm.ErrBlobCorrupt, id)
	}
	return out, nil
}

func (f *fakeToken) Random(_ context.Context, p []byte) error { rand.Read(p); return nil }

func (f *fakeToken) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeToken) KeyVersions() (uint32, []uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var loaded []uint32
	for v := range f.keys {
		loaded = append(loaded, v)
	}
	slices.Sort(loaded)
	return f.current, loaded
}

func (f *fakeToken) UseKeyVersion(_ context.Context, v uint32, create bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys[v] == nil {
		if !create {
			return fmt.Errorf("no master-key version %d", v)
		}
		k := make([]byte, 32)
		rand.Read(k)
		b, _ := aes.NewCipher(k)
		f.keys[v], _ = cipher.NewGCM(b)
	}
	f.current = v
	return nil
}

func (f *fakeToken) RetireKeyVersion(_ context.Context, v uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v == f.current {
		return fmt.Errorf("version %d is current", v)
	}
	delete(f.keys, v)
	f.retired = append(f.retired, v)
	return nil
}

func (f *fakeToken) Rewrap(ctx context.Context, id string, blob []byte) ([]byte, error) {
	h, err := hsm.BlobKind(blob)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	cur := f.current
	f.mu.Unlock()
	if h.KeyVersion == cur {
		return blob, nil
	}
	pt, err := f.Open(ctx, id, blob, nil)
	if err != nil {
		return nil, err
	}
	return f.seal(id, h.Kind, pt)
}

var (
	_ hsm.KeyRotator = (*fakeToken)(nil)
	_ hsm.KeySealer  = (*fakeToken)(nil)
)

// openSoft returns the software backend with a new master key file.
func openSoft(t *testing.T) *soft.Backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if err := soft.CreateMasterKey(path); err != nil {
		t.Fatal(err)
	}
	b, err := soft.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "kmipd.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fill stores n objects with material sealed by be (symmetric keys, every
// third one Secret Data) and one object without material, and returns the
// material by identifier.
func fill(t *testing.T, db *store.DB, be hsm.Backend, n int) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	secrets := map[string][]byte{}
	err := db.Update(func(tx *store.Tx) error {
		for i := range n {
			typ := kmip.ObjectTypeSymmetricKey
			if i%3 == 2 {
				typ = kmip.ObjectTypeSecretData
			}
			o := objects.New(fmt.Sprintf("obj-%03d", i), typ, "alice")
			pt := make([]byte, 32)
			rand.Read(pt)
			blob, err := be.Seal(ctx, o.ID, pt)
			if err != nil {
				return err
			}
			o.Blob, secrets[o.ID] = blob, pt
			if err := putObject(tx, o); err != nil {
				return err
			}
		}
		return putObject(tx, objects.New("no-material", kmip.ObjectTypeSymmetricKey, "alice"))
	})
	if err != nil {
		t.Fatal(err)
	}
	return secrets
}

// putObject stores o as lifecycle does, its key material in Secret; the
// objects whose ID ends in 0 keep it in Data, as store format 2 did, which
// rotation reads too and moves to Secret.
func putObject(tx *store.Tx, o *objects.Object) error {
	bare := *o
	if !strings.HasSuffix(o.ID, "0") {
		bare.Blob = nil
	}
	data, err := bare.MarshalBinary()
	if err != nil {
		return err
	}
	r := &store.Record{ID: o.ID, Owner: o.Owner, Data: data,
		Index: []store.IndexEntry{{Kind: "name", Value: []byte(o.ID), Unique: true}}}
	if bare.Blob == nil {
		r.Secret = o.Blob
	}
	return tx.Put(r)
}

func getObject(t *testing.T, db *store.DB, id string) (*objects.Object, *store.Record) {
	t.Helper()
	var o objects.Object
	var rec *store.Record
	err := db.View(func(tx *store.Tx) error {
		r, err := tx.Get(id)
		if err != nil {
			return err
		}
		rec = r
		if err := o.UnmarshalBinary(r.Data); err != nil {
			return err
		}
		if r.Secret != nil {
			o.Blob = r.Secret
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &o, rec
}

// checkAll wants every object's material to open with be and be what fill
// stored, under a blob header want accepts.
func checkAll(t *testing.T, db *store.DB, be hsm.Backend, secrets map[string][]byte, want func(hsm.Header) bool) {
	t.Helper()
	for id, pt := range secrets {
		o, _ := getObject(t, db, id)
		h, err := hsm.BlobKind(o.Blob)
		if err != nil || !want(h) {
			t.Errorf("object %s: blob header %+v, %v", id, h, err)
			continue
		}
		got, err := be.Open(context.Background(), id, o.Blob, nil)
		if err != nil || string(got) != string(pt) {
			t.Errorf("object %s: material %x, %v; want %x", id, got, err, pt)
		}
	}
	if o, _ := getObject(t, db, "no-material"); o.Blob != nil {
		t.Errorf("the object without material got a blob")
	}
}
