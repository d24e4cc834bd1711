package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/pkcs11"
	"github.com/kmipd/kmipd/hsm/pkcs11/softhsmtest"
	"github.com/kmipd/kmipd/internal/keywrap"
	"github.com/kmipd/kmipd/internal/rotation"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Tokens of this test process's private SoftHSM.
const (
	hsmTokenA = "kmipd-cmd-a" // end to end: init, serve, rotate, migrate away
	hsmTokenB = "kmipd-cmd-b" // migrate back to pkcs11
	hsmTokenC = "kmipd-cmd-c" // init errors, interrupted rotation
	hsmTokenD = "kmipd-cmd-d" // online rotation
	hsmTokenE = "kmipd-cmd-e" // wrapped Get inside the HSM
	hsmTokenF = "kmipd-cmd-f" // Encrypt, Decrypt and MAC inside the HSM
	hsmTokenG = "kmipd-cmd-g" // exact RSA-PSS parameters, truncated MACs
	hsmTokenH = "kmipd-cmd-h" // the key cache
	hsmTokenI = "kmipd-cmd-i" // two nodes on etcd sharing the token
)

// TestHSM runs the PKCS#11 tests of the command on one private SoftHSM
// token directory, which must exist before the library is initialised in
// this process.
func TestHSM(t *testing.T) {
	env, err := softhsmtest.Setup(hsmTokenA, hsmTokenB, hsmTokenC, hsmTokenD, hsmTokenE, hsmTokenF, hsmTokenG, hsmTokenH, hsmTokenI)
	if err != nil {
		softhsmtest.Unavailable(t, err)
	}
	t.Cleanup(env.Close)
	clearKMIPDEnv(t)
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(softhsmtest.UserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("InitErrors", func(t *testing.T) { testHSMInitErrors(t, env) })
	t.Run("EndToEnd", func(t *testing.T) { testHSMEndToEnd(t, env, pinFile) })
	t.Run("InterruptedRotation", func(t *testing.T) { testHSMInterruptedRotation(t, env) })
	t.Run("OnlineRotation", func(t *testing.T) { testHSMOnlineRotation(t, env) })
	t.Run("WrappedGet", func(t *testing.T) { testHSMWrappedGet(t, env) })
	t.Run("Crypto", func(t *testing.T) { testHSMCrypto(t, env) })
	t.Run("ExactParams", func(t *testing.T) { testHSMExactParams(t, env) })
	t.Run("KeyCache", func(t *testing.T) { testHSMKeyCache(t, env) })
	t.Run("Cluster", func(t *testing.T) { testHSMCluster(t, env) })
}

// testHSMWrappedGet serves a Sensitive key held by the HSM wrapped under a
// KEK also held by it: the HSM re-wraps it (C_WrapKey), the client unwraps
// the result with the KEK and finds the key.
func testHSMWrappedGet(t *testing.T, env *softhsmtest.Env) {
	dir, cfg := initPKCS11(t, env, hsmTokenE, "wrap")
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, srv.addr)
	create := func(name string, mask kmip.CryptographicUsageMask) string {
		t.Helper()
		_, it, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			b.Begin(ttlv.TagAttributes)
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
			b.AddInt32(ttlv.TagCryptographicLength, 256)
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(mask))
			b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
			b.Begin(ttlv.TagName)
			b.AddText(ttlv.TagNameValue, name)
			b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
			b.End()
			b.End()
		})
		if err != nil {
			t.Fatal(err)
		}
		id, err := createdID(it)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	kekID := create("kek", kmip.CryptographicUsageMaskWrapKey|kmip.CryptographicUsageMaskUnwrapKey)
	keyID := create("secret", kmip.CryptographicUsageMaskEncrypt)
	kek, err := getKey(c, kekID)
	if err != nil {
		t.Fatal(err)
	}
	key, err := getKey(c, keyID)
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func() error {
		_, _, err := c.Do(kmip.OperationEncrypt, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, keyID)
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeCBC))
			b.AddEnum(ttlv.TagPaddingMethod, uint32(kmip.PaddingMethodPKCS5))
			b.End()
			b.AddBytes(ttlv.TagData, []byte("sixteen byte msg"))
		})
		return err
	}
	if err := encrypt(); err != nil {
		t.Fatalf("Encrypt with an HSM key that may leave it: %v", err)
	}
	if _, _, err := c.Do(kmip.OperationSetAttribute, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, keyID)
		b.Begin(ttlv.TagNewAttribute)
		b.AddBool(ttlv.TagSensitive, true)
		b.End()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := getKey(c, keyID); !isKMIPError(err) {
		t.Fatalf("plain Get of a Sensitive key: %v", err)
	}
	// kmipd encrypts inside the HSM: a Sensitive key works there.
	if err := encrypt(); err != nil {
		t.Fatalf("Encrypt with a Sensitive HSM key: %v", err)
	}
	for _, tc := range []struct {
		mode   kmip.BlockCipherMode
		unwrap func(kek, w []byte) ([]byte, error)
	}{
		{kmip.BlockCipherModeNISTKeyWrap, keywrap.UnwrapKey},
		{kmip.BlockCipherModeAESKeyWrapPadding, keywrap.UnwrapKeyPad},
	} {
		_, it, err := c.Do(kmip.OperationGet, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, keyID)
			b.Begin(ttlv.TagKeyWrappingSpecification)
			b.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
			b.Begin(ttlv.TagEncryptionKeyInformation)
			b.AddText(ttlv.TagUniqueIdentifier, kekID)
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagBlockCipherMode, uint32(tc.mode))
			b.End()
			b.End()
			b.AddEnum(ttlv.TagEncodingOption, uint32(kmip.EncodingOptionNoEncoding))
			b.End()
		})
		if err != nil {
			t.Fatalf("%s: wrapped Get: %v", tc.mode, err)
		}
		p := it.Payload
		p.Skip()
		p.Skip()
		obj, _ := p.Next()
		kb, _ := obj.Children().Find(ttlv.TagKeyBlock)
		kv, ok := kb.Children().Find(ttlv.TagKeyValue)
		if !ok || kv.Type != ttlv.TypeByteString {
			t.Fatalf("%s: no wrapped Key Value: %s", tc.mode, ttlv.Format(it.Payload))
		}
		got, err := tc.unwrap(kek, kv.Data)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%s: the HSM-wrapped key does not unwrap to the key: %v", tc.mode, err)
		}
	}
	// TTLV encoding would need the plaintext outside the HSM: refused.
	_, _, err = c.Do(kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, keyID)
		b.Begin(ttlv.TagKeyWrappingSpecification)
		b.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
		b.Begin(ttlv.TagEncryptionKeyInformation)
		b.AddText(ttlv.TagUniqueIdentifier, kekID)
		b.End()
		b.End()
	})
	if !isKMIPError(err) {
		t.Fatalf("TTLV-encoded wrapped Get of a Sensitive HSM key: %v", err)
	}
	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, srv.logs)
	}
}

// testHSMOnlineRotation rotates the master key of a serving kmipd: Gets
// never fail while it runs, and afterwards every blob is under the new
// version and the old one is gone.
func testHSMOnlineRotation(t *testing.T, env *softhsmtest.Env) {
	dir, cfg := initPKCS11(t, env, hsmTokenD, "online")
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, srv.addr)
	secrets := map[string][]byte{}
	var ids []string
	for i := range 16 {
		id, err := createKey(c, "online-"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		key, err := getKey(c, id)
		if err != nil {
			t.Fatal(err)
		}
		ids, secrets[id] = append(ids, id), key
	}
	var stop atomic.Bool
	var reads atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := dialKMIP(t, dir, srv.addr)
		for !stop.Load() {
			for _, id := range ids {
				got, err := getKey(r, id)
				if err != nil || !bytes.Equal(got, secrets[id]) {
					t.Errorf("Get %s during the online rotation: %v", id, err)
					return
				}
				reads.Add(1)
			}
		}
	}()
	out, err := runCLI("hsm", "rotate", "--dir", dir)
	stop.Store(true)
	<-done
	if err != nil {
		t.Fatalf("online rotate: %v\n%s", err, out)
	}
	for _, want := range []string{"rotating online", "16 blobs re-wrapped under master-key version 2", "retired master-key version 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate output lacks %q:\n%s", want, out)
		}
	}
	if reads.Load() == 0 {
		t.Error("no Get ran during the rotation")
	}
	for _, id := range ids {
		got, err := getKey(c, id)
		if err != nil || !bytes.Equal(got, secrets[id]) {
			t.Fatalf("Get %s after the rotation: %v", id, err)
		}
	}
	if _, err := createKey(c, "after-rotation"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, srv.logs)
	}
	for id, h := range blobHeaders(t, dir) {
		if h.KeyVersion != 2 {
			t.Errorf("%s is still under master-key version %d", id, h.KeyVersion)
		}
	}
}

// skipNoCgo skips when this build has no PKCS#11 support.
func skipNoCgo(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, pkcs11.ErrNoCgo) {
		t.Skip(err)
	}
}

func testHSMInitErrors(t *testing.T, env *softhsmtest.Env) {
	base := t.TempDir()
	p11 := []string{"--hsm", "pkcs11", "--pkcs11-module", env.Module, "--pkcs11-token", hsmTokenC}
	for name, c := range map[string]struct {
		args []string
		pin  string
		want string
	}{
		"no module":       {[]string{"--hsm", "pkcs11", "--pkcs11-token", hsmTokenC}, "1234", "--pkcs11-module"},
		"flags, software": {[]string{"--pkcs11-token", hsmTokenC}, "1234", "--hsm pkcs11"},
		"unknown backend": {[]string{"--hsm", "vault"}, "", "--hsm"},
		"no PIN":          {p11, "", envPKCS11PIN},
		"wrong PIN":       {append(p11, "--pkcs11-kek-label", "wrong-pin"), "9999", "CKR_PIN_INCORRECT"},
		"missing token":   {[]string{"--hsm", "pkcs11", "--pkcs11-module", env.Module, "--pkcs11-token", "nope"}, "1234", "not found"},
	} {
		t.Setenv(envPKCS11PIN, c.pin)
		dir := filepath.Join(base, strings.ReplaceAll(name, " ", "-"))
		_, err := runCLI(append([]string{"init", "--dir", dir}, c.args...)...)
		skipNoCgo(t, err)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
			t.Errorf("%s: a failed init left %s", name, ConfigFile)
		}
	}
	// The PIN from the environment; a second set-up on the same token and
	// label is refused and leaves nothing behind.
	t.Setenv(envPKCS11PIN, softhsmtest.UserPIN)
	if _, err := runCLI(append([]string{"init", "--dir", filepath.Join(base, "first")}, p11...)...); err != nil {
		t.Fatalf("init with the PIN in %s: %v", envPKCS11PIN, err)
	}
	second := filepath.Join(base, "second")
	_, err := runCLI(append([]string{"init", "--dir", second}, p11...)...)
	if !errors.Is(err, pkcs11.ErrKEKExists) {
		t.Errorf("second init on the same token: %v, want ErrKEKExists", err)
	}
	if _, err := os.Stat(filepath.Join(second, ConfigFile)); err == nil {
		t.Error("the refused init left its config")
	}
	// serve with a wrong PIN fails at start-up.
	t.Setenv(envPKCS11PIN, "9999")
	cfg, err := loadConfig(filepath.Join(base, "first"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	if err := serve(context.Background(), cfg, &lockedBuffer{}, nil); err == nil || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Errorf("serve with a wrong PIN: %v", err)
	}
	// A PIN file readable by others is refused.
	t.Setenv(envPKCS11PIN, "")
	loose := filepath.Join(base, "loose-pin")
	os.WriteFile(loose, []byte(softhsmtest.UserPIN), 0o644)
	cfg.HSM.PINFile = loose
	if _, err := pkcs11PIN(cfg); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("PIN file of mode 0644: %v", err)
	}
}

// hsmSession is the state the end-to-end test carries between servers.
type hsmSession struct {
	dir     string
	ids     []string
	secrets map[string][]byte // id → plaintext returned by Get
}

// serveAndCheck serves dir, checks that every known object returns its
// material, runs more (if set) and stops the server.
func (s *hsmSession) serveAndCheck(t *testing.T, more func(addr string)) {
	t.Helper()
	cfg, err := loadConfig(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, s.dir, srv.addr)
	for _, id := range s.ids {
		_, _, got, err := getMaterial(c, id)
		if err != nil {
			t.Fatalf("Get %s: %v", id, err)
		}
		if !bytes.Equal(got, s.secrets[id]) {
			t.Fatalf("Get %s returned other material than before", id)
		}
	}
	if more != nil {
		more(srv.addr)
	}
	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, srv.logs)
	}
	s.checkStoreBytes(t)
}

// checkStoreBytes requires that the bbolt file holds no plaintext returned
// by Get.
func (s *hsmSession) checkStoreBytes(t *testing.T) {
	t.Helper()
	cfg, err := loadConfig(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(cfg.path(cfg.Store))
	if err != nil {
		t.Fatal(err)
	}
	for id, p := range s.secrets {
		if bytes.Contains(file, p) {
			t.Fatalf("the store file contains the plaintext of %s", id)
		}
	}
}

// blobHeaders returns the blob header of every object with material.
func blobHeaders(t *testing.T, dir string) map[string]hsm.Header {
	t.Helper()
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(cfg.path(cfg.Store), &store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]hsm.Header{}
	err = db.View(func(tx *store.Tx) error {
		return tx.Scan(func(r *store.Record) bool {
			var o objects.Object
			if err := o.UnmarshalBinary(r.Data); err != nil {
				t.Error(err)
				return false
			}
			if r.Secret != nil {
				o.Blob = r.Secret
			}
			if o.Blob != nil {
				h, err := hsm.BlobKind(o.Blob)
				if err != nil {
					t.Errorf("%s: %v", r.ID, err)
				}
				out[r.ID] = h
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testHSMEndToEnd(t *testing.T, env *softhsmtest.Env, pinFile string) {
	t.Setenv(envPKCS11PIN, "") // the PIN comes from the PIN file named in the config
	s := &hsmSession{dir: filepath.Join(t.TempDir(), "kmipd"), secrets: map[string][]byte{}}
	out, err := runCLI("init", "--dir", s.dir, "--hsm", "pkcs11", "--pkcs11-module", env.Module,
		"--pkcs11-token", hsmTokenA, "--pkcs11-pin-file", pinFile)
	skipNoCgo(t, err)
	if err != nil {
		t.Fatalf("kmipd init --hsm pkcs11: %v", err)
	}
	if !strings.Contains(out, "kmipd-kek-v1") {
		t.Errorf("init output: %s", out)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "master.key")); err == nil {
		t.Error("init --hsm pkcs11 wrote master.key")
	}
	cfgText, _ := os.ReadFile(filepath.Join(s.dir, ConfigFile))
	for _, want := range []string{"backend: pkcs11", "pkcs11_token: " + hsmTokenA, "pin_file: " + pinFile} {
		if !strings.Contains(string(cfgText), want) {
			t.Errorf("config lacks %q:\n%s", want, cfgText)
		}
	}

	// Serve: Create, Get, Register, Get, and the PyKMIP client.
	cfg, err := loadConfig(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, s.dir, srv.addr)
	for i := range 3 {
		id, err := createKey(c, "hsm-key-"+string(rune('a'+i)))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		key, err := getKey(c, id)
		if err != nil || len(key) != 32 {
			t.Fatalf("Get %s: %d bytes, %v", id, len(key), err)
		}
		s.ids, s.secrets[id] = append(s.ids, id), key
	}
	secret := []byte("correct horse battery staple, registered")
	sid, err := registerSecretData(c, secret, nil)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if _, _, got, err := getMaterial(c, sid); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Get of registered data: %q, %v", got, err)
	}
	s.ids, s.secrets[sid] = append(s.ids, sid), secret
	runPyKMIP(t, s.dir, srv.addr, "lifecycle.py", 14)
	// Create Key Pair, Encrypt, Decrypt, Sign, MAC, Derive Key with keys
	// the HSM generated, through the real client.
	runPyKMIP(t, s.dir, srv.addr, "crypto.py", 30)
	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	s.checkStoreBytes(t)
	hs := blobHeaders(t, s.dir)
	for _, id := range s.ids {
		want := hsm.KindPKCS11Wrap // generated inside the HSM, wrapped with KWP
		if id == sid {
			want = hsm.KindPKCS11 // registered material: AES-GCM
		}
		if h := hs[id]; h.Kind != want || h.KeyVersion != 1 {
			t.Errorf("object %s: blob %+v, want kind %v version 1", id, h, want)
		}
	}

	// Rotate the master key.
	out, err = runCLI("hsm", "rotate", "--dir", s.dir)
	if err != nil {
		t.Fatalf("kmipd hsm rotate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "re-wrapping [") || !strings.Contains(out, "retired master-key version 1") {
		t.Errorf("rotate output:\n%s", out)
	}
	for id, h := range blobHeaders(t, s.dir) {
		if h.KeyVersion != 2 {
			t.Errorf("after rotate, object %s is under version %d", id, h.KeyVersion)
		}
	}
	if cfg, _ := loadConfig(s.dir); cfg.HSM.KEKVersion != 2 {
		t.Errorf("config kek_version %d after rotate", cfg.HSM.KEKVersion)
	}
	s.serveAndCheck(t, func(addr string) {
		// New keys get version 2.
		c := dialKMIP(t, s.dir, addr)
		id, err := createKey(c, "after-rotate")
		if err != nil {
			t.Fatal(err)
		}
		key, err := getKey(c, id)
		if err != nil {
			t.Fatal(err)
		}
		s.ids, s.secrets[id] = append(s.ids, id), key
	})

	// Migrate to the software backend and back to another token.
	if out, err := runCLI("hsm", "migrate", "--dir", s.dir, "--to", "software"); err != nil {
		t.Fatalf("kmipd hsm migrate --to software: %v\n%s", err, out)
	}
	for id, h := range blobHeaders(t, s.dir) {
		if h.Kind != hsm.KindSoftware {
			t.Errorf("after migrating to software, object %s has a %v blob", id, h.Kind)
		}
	}
	if cfg, _ := loadConfig(s.dir); cfg.HSM.Backend != "software" || cfg.HSM.MigrateFrom != "" {
		t.Errorf("config after migrating: backend %q, migrate_from %q", cfg.HSM.Backend, cfg.HSM.MigrateFrom)
	}
	s.serveAndCheck(t, nil)

	if out, err := runCLI("hsm", "migrate", "--dir", s.dir, "--to", "pkcs11", "--pkcs11-token", hsmTokenB); err != nil {
		t.Fatalf("kmipd hsm migrate --to pkcs11: %v\n%s", err, out)
	}
	hs = blobHeaders(t, s.dir)
	for id, h := range hs {
		if !rotation.OwnsKind(backendPKCS11, h.Kind) {
			t.Errorf("after migrating to pkcs11, object %s has a %v blob", id, h.Kind)
		}
	}
	for _, id := range s.ids {
		want := hsm.KindPKCS11Wrap // symmetric keys are imported and wrapped
		if id == sid {
			want = hsm.KindPKCS11
		}
		if h := hs[id]; h.Kind != want || h.KeyVersion != 1 {
			t.Errorf("after migrating to pkcs11, object %s: %+v, want kind %v version 1", id, h, want)
		}
	}
	s.serveAndCheck(t, nil)
	if out, err := runCLI("hsm", "migrate", "--dir", s.dir, "--to", "pkcs11"); err == nil {
		t.Errorf("migrating to the current backend succeeded:\n%s", out)
	}
}

// initPKCS11 writes a set-up on token with master keys labelled label, as
// `kmipd init --hsm pkcs11` does, and returns its directory and its config
// listening on a free port.
func initPKCS11(t *testing.T, env *softhsmtest.Env, token, label string) (string, *Config) {
	t.Helper()
	t.Setenv(envPKCS11PIN, softhsmtest.UserPIN)
	dir := filepath.Join(t.TempDir(), "kmipd")
	_, err := runCLI("init", "--dir", dir, "--hsm", "pkcs11", "--pkcs11-module", env.Module,
		"--pkcs11-token", token, "--pkcs11-kek-label", label)
	skipNoCgo(t, err)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	return dir, cfg
}

// runPyKMIP runs a PyKMIP script of testdata/pykmip (KMIP 2.0) against
// addr and wants at least minSteps passed, none failed; CI has
// python3-pykmip. Steps PyKMIP itself cannot send are not counted.
func runPyKMIP(t *testing.T, dir, addr, name string, minSteps int) {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import kmip.pie.client").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PyKMIP missing in CI: %v", err)
		}
		t.Log("python3-pykmip not installed: skipping the PyKMIP part")
		return
	}
	host, port, _ := net.SplitHostPort(addr)
	script, _ := filepath.Abs(filepath.Join("../../testdata/pykmip", name))
	pkiDir := filepath.Join(dir, "pki")
	cmd := exec.Command(py, script, host, port, filepath.Join(pkiDir, "ca.crt"),
		filepath.Join(pkiDir, "client.crt"), filepath.Join(pkiDir, "client.key"), "2.0")
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	passed := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var step struct {
			Step, Detail, Error string
			OK, Unsupported     bool
		}
		if json.Unmarshal(sc.Bytes(), &step) != nil || step.Unsupported {
			continue
		}
		if !step.OK {
			t.Errorf("PyKMIP %s on the pkcs11 backend: FAIL %s: %s%s", name, step.Step, step.Detail, step.Error)
			continue
		}
		passed++
	}
	if err != nil || passed < minSteps {
		t.Fatalf("PyKMIP %s on the pkcs11 backend: %d steps passed (want %d), exit %v\n%s", name, passed, minSteps, err, stderr.String())
	}
	t.Logf("PyKMIP %s on the pkcs11 backend: %d steps passed", name, passed)
}

// testHSMInterruptedRotation interrupts a rotation half-way, checks that
// every object stays readable (also while blobs are being re-wrapped), and
// finishes it with kmipd hsm rotate.
func testHSMInterruptedRotation(t *testing.T, env *softhsmtest.Env) {
	t.Setenv(envPKCS11PIN, softhsmtest.UserPIN)
	s := &hsmSession{dir: filepath.Join(t.TempDir(), "kmipd"), secrets: map[string][]byte{}}
	_, err := runCLI("init", "--dir", s.dir, "--hsm", "pkcs11", "--pkcs11-module", env.Module,
		"--pkcs11-token", hsmTokenC, "--pkcs11-kek-label", "rotation")
	skipNoCgo(t, err)
	if err != nil {
		t.Fatal(err)
	}
	s.serveAndCheck(t, func(addr string) {
		c := dialKMIP(t, s.dir, addr)
		for i := range 24 {
			id, err := createKey(c, "rot-"+string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			key, err := getKey(c, id)
			if err != nil {
				t.Fatal(err)
			}
			s.ids, s.secrets[id] = append(s.ids, id), key
		}
	})

	// The first steps of kmipd hsm rotate, then a re-wrap that stops after
	// 10 objects while readers open every blob concurrently.
	cfg, err := loadConfig(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	be, err := openBackend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rot := be.(hsm.KeyRotator)
	ctx := context.Background()
	if err := rot.UseKeyVersion(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	if err := updateConfigFile(s.dir, func(c *Config) { c.HSM.KEKVersion = 2 }); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(cfg.path(cfg.Store), nil)
	if err != nil {
		t.Fatal(err)
	}
	var stopReaders atomic.Bool
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for !stopReaders.Load() {
				for _, id := range s.ids {
					var o objects.Object
					err := db.View(func(tx *store.Tx) error {
						r, err := tx.Get(id)
						if err != nil {
							return err
						}
						o.Blob = r.Secret
						return nil
					})
					if err == nil {
						var got []byte
						got, err = be.Open(ctx, id, o.Blob, nil)
						if err == nil && !bytes.Equal(got, s.secrets[id]) {
							err = errors.New("wrong material")
						}
					}
					if err != nil {
						t.Errorf("read of %s during the rotation: %v", id, err)
						return
					}
					reads.Add(1)
				}
			}
		}()
	}
	converted := 0
	_, err = rotation.Rewrap(ctx, db, func(h hsm.Header) bool { return h.KeyVersion != 2 },
		func(ctx context.Context, o *objects.Object) ([]byte, error) {
			if converted == 10 {
				return nil, errors.New("interrupted")
			}
			converted++
			time.Sleep(2 * time.Millisecond) // let the readers interleave
			return rot.Rewrap(ctx, o.ID, o.Blob)
		}, 3, func(int, int) {})
	stopReaders.Store(true)
	readers.Wait()
	db.Close()
	be.Close()
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("rotation.Rewrap: %v", err)
	}
	if reads.Load() < int64(len(s.ids)) {
		t.Errorf("only %d reads during the rotation", reads.Load())
	}
	versions := map[uint32]int{}
	for _, h := range blobHeaders(t, s.dir) {
		versions[h.KeyVersion]++
	}
	if versions[1] == 0 || versions[2] == 0 {
		t.Fatalf("after the interruption: versions %v, want a mix", versions)
	}
	// A server started now reads both versions.
	s.serveAndCheck(t, nil)
	out, err := runCLI("hsm", "rotate", "--dir", s.dir)
	if err != nil {
		t.Fatalf("resumed rotate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "resuming the rotation to master-key version 2") || !strings.Contains(out, "retired master-key version 1") {
		t.Errorf("resumed rotate output:\n%s", out)
	}
	for id, h := range blobHeaders(t, s.dir) {
		if h.KeyVersion != 2 {
			t.Errorf("object %s under version %d after the resumed rotation", id, h.KeyVersion)
		}
	}
	s.serveAndCheck(t, nil)

	// Fail closed: the token vanishes under a running server. The health
	// check notices within seconds; Get and Create then answer General
	// Failure, never stale material.
	cfg, err = loadConfig(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, s.dir, srv.addr)
	if _, err := getKey(c, s.ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(env.TokenDir(hsmTokenC)); err != nil {
		t.Fatal(err)
	}
	generalFailure := func(err error) bool {
		var ke *kmip.Error
		return errors.As(err, &ke) && ke.Reason == kmip.ResultReasonGeneralFailure
	}
	deadline := time.Now().Add(3 * pkcs11.DefaultHealthInterval)
	for {
		_, err := getKey(c, s.ids[0])
		if generalFailure(err) {
			break
		}
		if err != nil && !isKMIPError(err) {
			t.Fatalf("Get after the token was removed: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get still answers (%v) %v after the token was removed", err, 3*pkcs11.DefaultHealthInterval)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := createKey(c, "after-removal"); !generalFailure(err) {
		t.Errorf("Create after the token was removed: %v, want General Failure", err)
	}
	c.Close()
	srv.stop()

	// The software backend cannot rotate.
	soft := initDir(t)
	if out, err := runCLI("hsm", "rotate", "--dir", soft); err == nil || !strings.Contains(err.Error(), "cannot rotate") {
		t.Errorf("rotate on the software backend: %v\n%s", err, out)
	}
}
