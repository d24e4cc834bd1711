package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm/pkcs11/softhsmtest"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// testHSMKeyCache serves AES-GCM with Sensitive keys the HSM holds through
// the key cache (hsm.key_cache 2): the results are AES's, /metrics counts
// hits, misses, evictions and the handles held, never more than the bound;
// Revoke drops the key's handles, and so does Destroy of a key deactivated
// by its date; neither key can be used afterwards.
func testHSMKeyCache(t *testing.T, env *softhsmtest.Env) {
	dir, cfg := initPKCS11(t, env, hsmTokenH, "cache")
	if cfg.HSM.KeyCache != 64 {
		t.Fatalf("hsm.key_cache %d, want the default 64", cfg.HSM.KeyCache)
	}
	cfg.AdminAddr = freePort(t)
	cfg.HSM.KeyCache, cfg.HSM.PoolSize = 2, 1
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, srv.addr)
	metrics := func() string {
		t.Helper()
		resp, err := http.Get("http://" + cfg.AdminAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	metric := func(name string) float64 { t.Helper(); return metricValue(t, metrics(), "(?m)^"+name) }
	create := func() (id string, key []byte) {
		t.Helper()
		_, it, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			b.Begin(ttlv.TagAttributes)
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
			b.AddInt32(ttlv.TagCryptographicLength, 256)
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
			b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
			b.End()
		})
		if err != nil {
			t.Fatal(err)
		}
		if id, err = createdID(it); err != nil {
			t.Fatal(err)
		}
		// Read the key for the expected results, then make it Sensitive.
		if key, err = getKey(c, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Do(kmip.OperationSetAttribute, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.Begin(ttlv.TagNewAttribute)
			b.AddBool(ttlv.TagSensitive, true)
			b.End()
		}); err != nil {
			t.Fatal(err)
		}
		return id, key
	}
	msg := []byte("sixteen bytes and then some more")
	encrypt := func(id string) (ct []byte, err error) {
		t.Helper()
		_, it, err := c.Do(kmip.OperationEncrypt, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeGCM))
			b.End()
			b.AddBytes(ttlv.TagData, msg)
		})
		if err != nil {
			return nil, err
		}
		var out []byte
		for _, tag := range []ttlv.Tag{ttlv.TagIVCounterNonce, ttlv.TagData, ttlv.TagAuthenticatedEncryptionTag} {
			v, ok := it.Payload.Find(tag)
			if !ok {
				t.Fatalf("Encrypt response lacks %v", tag)
			}
			out = append(out, v.Data...)
		}
		return out, nil
	}
	check := func(id string, key []byte) {
		t.Helper()
		out, err := encrypt(id)
		if err != nil {
			t.Fatalf("Encrypt with %s: %v", id, err)
		}
		blk, _ := aes.NewCipher(key)
		a, _ := cipher.NewGCM(blk)
		iv := out[:a.NonceSize()]
		if want := a.Seal(iv[:len(iv):len(iv)], iv, msg, nil); !bytes.Equal(out, want) {
			t.Fatalf("GCM with %s: kmipd %x, Go %x", id, out, want)
		}
	}
	ids := make([]string, 3)
	keys := make([][]byte, 3)
	for i := range ids {
		ids[i], keys[i] = create()
	}
	for range 3 {
		check(ids[0], keys[0])
	}
	if h, m := metric("kmipd_hsm_key_cache_hits_total"), metric("kmipd_hsm_key_cache_misses_total"); h != 2 || m != 1 {
		t.Fatalf("after 3 Encrypts with one key: %v hits, %v misses; want 2, 1", h, m)
	}
	for _, i := range []int{1, 2, 0} {
		check(ids[i], keys[i])
		if n := metric("kmipd_hsm_key_cache_handles"); n > 2 {
			t.Fatalf("%v key handles, hsm.key_cache 2 with one session", n)
		}
	}
	if e := metric("kmipd_hsm_key_cache_evictions_total"); e != 2 {
		t.Fatalf("%v evictions, want 2", e)
	}
	// ids[2] and ids[0] are cached. Revoke drops ids[0]'s handle;
	// Destroy of ids[2] drops its handle.
	if _, _, err := c.Do(kmip.OperationRevoke, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, ids[0])
		b.Begin(ttlv.TagRevocationReason)
		b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
		b.End()
	}); err != nil {
		t.Fatal(err)
	}
	if n := metric("kmipd_hsm_key_cache_handles"); n != 1 {
		t.Fatalf("%v key handles after Revoke, want 1", n)
	}
	if _, err := encrypt(ids[0]); err == nil {
		t.Fatal("Encrypt with a revoked key succeeded")
	}
	check(ids[2], keys[2]) // still cached: a hit
	hits := metric("kmipd_hsm_key_cache_hits_total")
	if _, _, err := c.Do(kmip.OperationDestroy, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, ids[2]) }); err == nil {
		t.Fatal("Destroy of an active key succeeded")
	}
	if n := metric("kmipd_hsm_key_cache_handles"); n != 1 {
		t.Fatalf("%v key handles after a refused Destroy, want 1", n)
	}
	// A key whose Deactivation Date passes is deactivated without a
	// Revoke; Destroy then drops its handle.
	if _, _, err := c.Do(kmip.OperationSetAttribute, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, ids[2])
		b.Begin(ttlv.TagNewAttribute)
		b.AddDateTime(ttlv.TagDeactivationDate, time.Now().Add(-time.Second).Unix())
		b.End()
	}); err != nil {
		t.Fatal(err)
	}
	if n := metric("kmipd_hsm_key_cache_handles"); n != 1 {
		t.Fatalf("%v key handles before Destroy, want 1", n)
	}
	if _, _, err := c.Do(kmip.OperationDestroy, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, ids[2]) }); err != nil {
		t.Fatal(err)
	}
	if n := metric("kmipd_hsm_key_cache_handles"); n != 0 {
		t.Fatalf("%v key handles after Destroy, want 0", n)
	}
	if _, err := encrypt(ids[2]); err == nil {
		t.Fatal("Encrypt with a destroyed key succeeded")
	}
	if h := metric("kmipd_hsm_key_cache_hits_total"); h != hits {
		t.Fatalf("a destroyed key was served from the cache: hits %v → %v", hits, h)
	}
}
