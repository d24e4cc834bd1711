package main

import (
	"crypto/aes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// unwrapRFC3394 undoes AES Key Wrap (RFC 3394 §2.2.2), written here from
// the RFC so that the test checks the server's wrapping independently.
func unwrapRFC3394(t *testing.T, kek, c []byte) []byte {
	t.Helper()
	b, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	n := len(c)/8 - 1
	a := append([]byte(nil), c[:8]...)
	r := append([]byte(nil), c[8:]...)
	buf := make([]byte, 16)
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			tt := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a)^tt)
			copy(buf[8:], r[(i-1)*8:i*8])
			b.Decrypt(buf, buf)
			copy(a, buf[:8])
			copy(r[(i-1)*8:], buf[8:])
		}
	}
	if hex.EncodeToString(a) != "a6a6a6a6a6a6a6a6" {
		t.Fatalf("RFC 3394 integrity check failed: %x", a)
	}
	return r
}

// Ensure that get --wrap-key returns the key wrapped under the named key
// (RFC 3394 by default), that --encoding ttlv wraps the whole Key Value,
// and that wrap flags without --wrap-key are a usage error.
func TestGet_WrapKey(t *testing.T) {
	e := newCtlEnv(t)
	key := e.create("--algorithm", "AES", "--length", "256")
	kek := e.create("--alg", "AES", "--length", "256", "--usage", "wrap-key,unwrap-key")
	e.ok("activate", kek)
	var plain, kekObj, wrapped, ttlvWrapped getJSON
	e.json(&plain, "get", key)
	e.json(&kekObj, "get", kek)
	e.json(&wrapped, "get", key, "--wrap-key", kek)
	if !wrapped.Wrapped || plain.Wrapped {
		t.Fatalf("wrapped %v, plain %v", wrapped.Wrapped, plain.Wrapped)
	}
	kekBytes, _ := hex.DecodeString(kekObj.KeyHex)
	c, _ := hex.DecodeString(wrapped.KeyHex)
	if got := hex.EncodeToString(unwrapRFC3394(t, kekBytes, c)); got != plain.KeyHex {
		t.Errorf("unwrapped %s, want the key %s", got, plain.KeyHex)
	}
	e.json(&ttlvWrapped, "get", key, "--wrap-key", kek, "--encoding", "ttlv")
	c, _ = hex.DecodeString(ttlvWrapped.KeyHex)
	inner := unwrapRFC3394(t, kekBytes, c)
	// The TTLV Key Value {Key Material} holding the key.
	if !strings.Contains(hex.EncodeToString(inner), plain.KeyHex) || inner[0] != 0x42 || inner[2] != 0x45 {
		t.Errorf("ttlv-encoded wrapped value %x does not hold the Key Value", inner)
	}
	for _, args := range [][]string{
		{"get", key, "--encoding", "ttlv"},
		{"get", key, "--wrap-key", kek, "--wrap-method", "rot13"},
		{"export", key, "--wrap-encoding", "ttlv"},
	} {
		if _, errOut, code := e.run(args...); code != 2 {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
}

// Ensure that --alg is an alias of --algorithm and that a symmetric
// algorithm kmipd computes nothing with can still be created.
func TestCreate_AlgorithmAlias(t *testing.T) {
	e := newCtlEnv(t)
	for _, flag := range []string{"--algorithm", "--alg"} {
		id := e.create(flag, "IDEA", "--length", "128", "--usage", "")
		if v, ok := e.attr(id, "CryptographicAlgorithm"); !ok || v != "IDEA" {
			t.Errorf("%s IDEA: Cryptographic Algorithm %v", flag, v)
		}
	}
}
