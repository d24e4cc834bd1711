package lifecycle_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// gateHSM is a fake key backend. While held is set, the blobs it makes say
// that it holds the key (hsm.KindPKCS11Wrap, as a PKCS#11 token's key blobs
// do); otherwise they are ordinary sealed blobs. It keeps the material in
// the blob in the clear (a test double) and counts Opens: each is the key
// coming out of the "HSM" into kmipd.
type gateHSM struct {
	held  atomic.Bool
	opens atomic.Int32
}

func (b *gateHSM) blob(material []byte) []byte {
	kind := hsm.KindSoftware
	if b.held.Load() {
		kind = hsm.KindPKCS11Wrap
	}
	return append(hsm.AppendHeader(nil, hsm.Header{Kind: kind, KeyVersion: 1}), material...)
}

func (b *gateHSM) Name() string { return "gate-test" }
func (b *gateHSM) GenerateSymmetric(_ context.Context, _ string, n int) ([]byte, error) {
	k := make([]byte, n)
	rand.Read(k)
	return b.blob(k), nil
}
func (b *gateHSM) Seal(_ context.Context, _ string, p []byte) ([]byte, error) { return b.blob(p), nil }
func (b *gateHSM) Open(_ context.Context, _ string, blob, dst []byte) ([]byte, error) {
	b.opens.Add(1)
	return append(dst, blob[hsm.HeaderSize:]...), nil
}
func (b *gateHSM) Random(_ context.Context, p []byte) error { _, err := rand.Read(p); return err }
func (b *gateHSM) Close() error                             { return nil }

// gateHSMCipher also has an hsm.Cipher, which cannot do anything: the HSM
// path is tried and declines, as a token does for what it lacks.
type gateHSMCipher struct{ *gateHSM }

func (gateHSMCipher) SymmetricCrypt(context.Context, string, []byte, hsm.SymOp) ([]byte, error) {
	return nil, hsm.ErrNotSupported
}
func (gateHSMCipher) MAC(context.Context, string, []byte, hsm.MACMech, []byte) ([]byte, error) {
	return nil, hsm.ErrNotSupported
}
func (gateHSMCipher) Sign(context.Context, string, []byte, hsm.SignOp) ([]byte, error) {
	return nil, hsm.ErrNotSupported
}
func (gateHSMCipher) Decrypt(context.Context, string, []byte, hsm.DecryptMech, []byte, []byte) ([]byte, error) {
	return nil, hsm.ErrNotSupported
}

// TestHSMGate is the unit test of the gate on HSM keys used in kmipd
// (lifecycle's useInGo and mayLeaveBackend, Config.HSMStrict), which was
// only tested end to end with SoftHSM. For a key the backend holds and
// cannot use itself for the operation (AES-CBC Encrypt here): with
// HSMStrict the operation is refused; without it, it runs in kmipd only if
// the key is Extractable and not Sensitive (a client could Get it anyway).
// HSMKeysUsedInGo counts exactly the operations that brought an HSM key
// out; refused ones never open the key, and keys the HSM does not hold are
// not counted.
func TestHSMGate(t *testing.T) {
	for _, withCipher := range []bool{false, true} {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("cipher=%v/strict=%v", withCipher, strict), func(t *testing.T) {
				fake := &gateHSM{}
				var be hsm.Backend = fake
				if withCipher {
					be = gateHSMCipher{fake}
				}
				db, err := store.Open(filepath.Join(t.TempDir(), "kmipd.db"), &store.Options{NoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				svc := lifecycle.NewService(lifecycle.Config{Store: db, Backend: be, HSMStrict: strict, Logger: zerolog.Nop()})
				c := kmiptest.Start(t, kmiptest.MustPKI(t, "alice"), svc).Dial(t, "alice", kmip.V2_0)

				key := bytes.Repeat([]byte{0x42}, 16)
				iv := bytes.Repeat([]byte{0x24}, 16)
				pt := []byte("sixteen byte msg")
				want := make([]byte, len(pt))
				blk, _ := aes.NewCipher(key)
				cipher.NewCBCEncrypter(blk, iv).CryptBlocks(want, pt)
				encrypt := func(id string) error {
					t.Helper()
					it, err := do(t, c, kmip.OperationEncrypt, pl(fUID(id),
						fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodNone)), fData(pt), fIV(iv)))
					if err == nil && !bytes.Equal(out(it, ttlv.TagData), want) {
						t.Fatalf("ciphertext %x, want %x", out(it, ttlv.TagData), want)
					}
					return err
				}
				var used uint64
				for _, k := range []struct{ sensitive, extractable bool }{{false, true}, {true, true}, {false, false}, {true, false}} {
					fake.held.Store(true)
					id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec,
						fBool(ttlv.TagSensitive, k.sensitive), fBool(ttlv.TagExtractable, k.extractable))
					allowed := !strict && k.extractable && !k.sensitive
					for range 2 {
						opens := fake.opens.Load()
						err := encrypt(id)
						switch {
						case allowed && err != nil:
							t.Fatalf("%+v: Encrypt refused: %v", k, err)
						case allowed:
							used++
						case err == nil:
							t.Fatalf("%+v: Encrypt ran in kmipd with an HSM key that may not leave the HSM", k)
						default:
							wantReason(t, err, kmip.ResultReasonFeatureNotSupported)
							if msg := err.(*kmip.Error).Message; strict && !strings.Contains(msg, "hsm.strict") {
								t.Errorf("%+v: message %q does not name hsm.strict", k, msg)
							}
							if fake.opens.Load() != opens {
								t.Fatalf("%+v: a refused operation opened the key", k)
							}
						}
						if n := svc.HSMKeysUsedInGo(); n != used {
							t.Fatalf("%+v: HSMKeysUsedInGo %d, want %d", k, n, used)
						}
					}
				}
				// A key the backend does not hold is used in kmipd in any
				// mode, Sensitive or not, and not counted.
				fake.held.Store(false)
				for _, sensitive := range []bool{false, true} {
					id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec, fBool(ttlv.TagSensitive, sensitive))
					if err := encrypt(id); err != nil {
						t.Fatalf("software key (Sensitive %v): %v", sensitive, err)
					}
				}
				if n := svc.HSMKeysUsedInGo(); n != used {
					t.Fatalf("HSMKeysUsedInGo %d after software keys, want %d", n, used)
				}
				if want := map[bool]uint64{false: 2, true: 0}[strict]; used != want {
					t.Fatalf("%d operations used an HSM key in kmipd, want %d", used, want)
				}
			})
		}
	}
}
