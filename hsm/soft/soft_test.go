package soft_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/soft"
)

var ctx = context.Background()

func newBackend(t testing.TB) *soft.Backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if err := soft.CreateMasterKey(path); err != nil {
		t.Fatalf("CreateMasterKey: %v", err)
	}
	b, err := soft.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestCreateMasterKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := soft.CreateMasterKey(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != soft.MasterKeySize {
		t.Errorf("mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), soft.MasterKeySize)
	}
	before, _ := os.ReadFile(path)
	if bytes.Equal(before, make([]byte, soft.MasterKeySize)) {
		t.Error("master key is all zeros")
	}

	err = soft.CreateMasterKey(path)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateMasterKey: %v, want fs.ErrExist", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("master key was overwritten")
	}

	other := filepath.Join(t.TempDir(), "other.key")
	if err := soft.CreateMasterKey(other); err != nil {
		t.Fatal(err)
	}
	if o, _ := os.ReadFile(other); bytes.Equal(o, before) {
		t.Error("two master keys are equal")
	}
}

func TestOpenRefusesBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := make([]byte, soft.MasterKeySize)
	rand.Read(key)

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o700, 0o666} {
		p := write(fmt.Sprintf("mode%o.key", mode), key, mode)
		if b, err := soft.Open(p); err == nil {
			b.Close()
			t.Errorf("mode %04o accepted", mode)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		p := write(fmt.Sprintf("ok%o.key", mode), key, mode)
		b, err := soft.Open(p)
		if err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
			continue
		}
		b.Close()
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		p := write(fmt.Sprintf("len%d.key", n), make([]byte, n), 0o600)
		if b, err := soft.Open(p); err == nil {
			b.Close()
			t.Errorf("%d-byte key file accepted", n)
		}
	}
	if _, err := soft.Open(filepath.Join(dir, "missing.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	sub := filepath.Join(dir, "dir.key")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := soft.Open(sub); err == nil {
		t.Error("directory accepted as key file")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newBackend(t)
	if b.Name() != "software" {
		t.Errorf("Name() = %q", b.Name())
	}
	for _, n := range []int{0, 1, 16, 32, 100, 4096} {
		pt := make([]byte, n)
		rand.Read(pt)
		orig := bytes.Clone(pt)
		id := fmt.Sprintf("obj-%d", n)
		blob, err := b.Seal(ctx, id, pt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pt, orig) {
			t.Fatal("Seal modified its input")
		}
		if len(blob) != n+hsm.Overhead {
			t.Errorf("blob length %d, want %d", len(blob), n+hsm.Overhead)
		}
		h, _, _, err := hsm.ParseBlob(blob)
		if err != nil || h.Kind != hsm.KindSoftware || h.KeyVersion != 1 {
			t.Errorf("header %+v, %v", h, err)
		}
		if n >= 16 && bytes.Contains(blob, pt) {
			t.Error("blob contains the plaintext")
		}
		got, err := b.Open(ctx, id, blob, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %x, want %x", got, pt)
		}
	}
	// Two seals of the same plaintext differ (random nonce).
	b1, _ := b.Seal(ctx, "x", []byte("same"))
	b2, _ := b.Seal(ctx, "x", []byte("same"))
	if bytes.Equal(b1, b2) {
		t.Error("two seals are identical")
	}
}

func TestOpenAppendsToDst(t *testing.T) {
	b := newBackend(t)
	blob, err := b.Seal(ctx, "id", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	buf = append(buf, "prefix:"...)
	got, err := b.Open(ctx, "id", blob, buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "prefix:secret" {
		t.Fatalf("Open = %q", got)
	}
	if &got[0] != &buf[:1][0] {
		t.Error("Open did not reuse dst's capacity")
	}
	// Without spare capacity it still appends.
	small := []byte("ab")
	got, err = b.Open(ctx, "id", blob, small[:2:2])
	if err != nil || string(got) != "absecret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestOpenRejectsWrongIDAndTampering(t *testing.T) {
	b := newBackend(t)
	blob, err := b.Seal(ctx, "object-1", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"object-2", "", "object-1 ", "Object-1"} {
		if p, err := b.Open(ctx, id, blob, nil); !errors.Is(err, hsm.ErrBlobCorrupt) || p != nil {
			t.Errorf("id %q: got %q, %v; want ErrBlobCorrupt", id, p, err)
		}
	}
	// Flip one bit in every byte after the header fields that select the key.
	for i := hsm.HeaderSize; i < len(blob); i++ {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x01
		if p, err := b.Open(ctx, "object-1", bad, nil); !errors.Is(err, hsm.ErrBlobCorrupt) || p != nil {
			t.Fatalf("byte %d flipped: got %x, %v; want ErrBlobCorrupt", i, p, err)
		}
	}
	// Header: format byte, kind, key version.
	cases := map[string]struct {
		mutate func([]byte) []byte
		want   error
	}{
		"format":         {func(p []byte) []byte { p[0] ^= 1; return p }, hsm.ErrBlobCorrupt},
		"kind pkcs11":    {func(p []byte) []byte { p[1] = byte(hsm.KindPKCS11); return p }, hsm.ErrKeyVersion},
		"key version 2":  {func(p []byte) []byte { p[5] = 2; return p }, hsm.ErrKeyVersion},
		"key version 0":  {func(p []byte) []byte { p[5] = 0; return p }, hsm.ErrBlobCorrupt},
		"truncated":      {func(p []byte) []byte { return p[:len(p)-1] }, hsm.ErrBlobCorrupt},
		"too short":      {func(p []byte) []byte { return p[:hsm.Overhead-1] }, hsm.ErrBlobCorrupt},
		"extended":       {func(p []byte) []byte { return append(p, 0) }, hsm.ErrBlobCorrupt},
		"empty":          {func([]byte) []byte { return nil }, hsm.ErrBlobCorrupt},
		"tag zeroed":     {func(p []byte) []byte { clear(p[len(p)-hsm.TagSize:]); return p }, hsm.ErrBlobCorrupt},
		"only overhead":  {func(p []byte) []byte { return p[:hsm.Overhead] }, hsm.ErrBlobCorrupt},
		"nonce replaced": {func(p []byte) []byte { clear(p[hsm.HeaderSize : hsm.HeaderSize+hsm.NonceSize]); return p }, hsm.ErrBlobCorrupt},
	}
	for name, c := range cases {
		bad := c.mutate(bytes.Clone(blob))
		if _, err := b.Open(ctx, "object-1", bad, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}

	// A blob sealed under another master key fails authentication.
	other := newBackend(t)
	if _, err := other.Open(ctx, "object-1", blob, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
		t.Errorf("other master key: %v, want ErrBlobCorrupt", err)
	}

	// A failed Open leaves no plaintext in dst's spare capacity.
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	dst := make([]byte, 0, 64)
	b.Open(ctx, "object-1", bad, dst)
	if !bytes.Equal(dst[:cap(dst)], make([]byte, cap(dst))) {
		t.Error("failed Open left data in dst")
	}
}

func TestGenerateSymmetric(t *testing.T) {
	b := newBackend(t)
	seen := map[string]bool{}
	for _, n := range []int{1, 16, 24, 32, 64} {
		for range 4 {
			blob, err := b.GenerateSymmetric(ctx, "k", n)
			if err != nil {
				t.Fatal(err)
			}
			if len(blob) != n+hsm.Overhead {
				t.Errorf("blob length %d for %d bytes", len(blob), n)
			}
			key, err := b.Open(ctx, "k", blob, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(key) != n {
				t.Fatalf("key length %d, want %d", len(key), n)
			}
			if n >= 16 && (seen[string(key)] || bytes.Equal(key, make([]byte, n))) {
				t.Fatalf("repeated or zero key %x", key)
			}
			seen[string(key)] = true
			if seen["blob:"+string(blob)] {
				t.Fatal("repeated blob")
			}
			seen["blob:"+string(blob)] = true
		}
	}
	for _, n := range []int{0, -1, soft.MaxGenerate + 1} {
		if _, err := b.GenerateSymmetric(ctx, "k", n); err == nil {
			t.Errorf("GenerateSymmetric(%d) succeeded", n)
		}
	}
}

func TestRandom(t *testing.T) {
	b := newBackend(t)
	p1, p2 := make([]byte, 32), make([]byte, 32)
	if err := b.Random(ctx, p1); err != nil {
		t.Fatal(err)
	}
	if err := b.Random(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(p1, p2) || bytes.Equal(p1, make([]byte, 32)) {
		t.Error("Random returned repeated or zero output")
	}
	if err := b.Random(ctx, nil); err != nil {
		t.Error(err)
	}
}

func TestClosedAndCanceled(t *testing.T) {
	b := newBackend(t)
	blob, err := b.Seal(ctx, "id", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Seal(cctx, "id", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Seal with canceled context: %v", err)
	}
	if _, err := b.Open(cctx, "id", blob, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with canceled context: %v", err)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := b.Open(ctx, "id", blob, nil); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Open after Close: %v", err)
	}
	if _, err := b.Seal(ctx, "id", []byte("x")); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Seal after Close: %v", err)
	}
	if _, err := b.GenerateSymmetric(ctx, "id", 32); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("GenerateSymmetric after Close: %v", err)
	}
	if err := b.Random(ctx, make([]byte, 8)); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Random after Close: %v", err)
	}
}

func TestConcurrentSealOpen(t *testing.T) {
	b := newBackend(t)
	const workers, iters = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64)
			for i := range iters {
				id := fmt.Sprintf("w%d-i%d", w, i)
				var (
					blob, want []byte
					err        error
				)
				if i%2 == 0 {
					want = []byte(id + "-material")
					blob, err = b.Seal(ctx, id, want)
				} else {
					blob, err = b.GenerateSymmetric(ctx, id, 32)
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := b.Open(ctx, id, blob, buf[:0])
				if err != nil {
					errs <- err
					return
				}
				if want != nil && !bytes.Equal(got, want) {
					errs <- fmt.Errorf("%s: got %q", id, got)
					return
				}
				if _, err := b.Open(ctx, id+"x", blob, buf[:0]); !errors.Is(err, hsm.ErrBlobCorrupt) {
					errs <- fmt.Errorf("%s: wrong id: %v", id, err)
					return
				}
				if err := b.Random(ctx, buf[:16]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOpenDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	b := newBackend(t)
	blob, err := b.GenerateSymmetric(ctx, "5b3a0c1e-7d1f-4e0a-9c5e-2a9f3c1d4b6e", 32)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := b.Open(ctx, "5b3a0c1e-7d1f-4e0a-9c5e-2a9f3c1d4b6e", blob, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Open allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkOpen(b *testing.B) {
	be := newBackend(b)
	const id = "5b3a0c1e-7d1f-4e0a-9c5e-2a9f3c1d4b6e"
	blob, err := be.GenerateSymmetric(ctx, id, 32)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(32)
	for b.Loop() {
		if _, err := be.Open(ctx, id, blob, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenParallel(b *testing.B) {
	be := newBackend(b)
	const id = "5b3a0c1e-7d1f-4e0a-9c5e-2a9f3c1d4b6e"
	blob, err := be.GenerateSymmetric(ctx, id, 32)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(32)
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, 64)
		for pb.Next() {
			if _, err := be.Open(ctx, id, blob, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	be := newBackend(b)
	key := make([]byte, 32)
	b.ReportAllocs()
	b.SetBytes(32)
	for b.Loop() {
		if _, err := be.Seal(ctx, "5b3a0c1e-7d1f-4e0a-9c5e-2a9f3c1d4b6e", key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerateSymmetric(b *testing.B) {
	be := newBackend(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.GenerateSymmetric(ctx, "5b3a0c1e-7d1f-4e0a-9c5e-2a9f3c1d4b6e", 32); err != nil {
			b.Fatal(err)
		}
	}
}
