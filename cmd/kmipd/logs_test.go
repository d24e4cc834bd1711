package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// secretForms returns the ways a secret could show up in a log: raw, as
// zerolog escapes it inside a JSON string, hex (both cases, with or without
// spaces), Go's %v of a []byte, and base64 (standard and URL alphabets), the
// latter at each of the three alignments it can have inside a longer
// base64-encoded blob.
func secretForms(secret []byte) map[string]string {
	m := map[string]string{
		"raw":        string(secret),
		"hex":        hex.EncodeToString(secret),
		"HEX":        strings.ToUpper(hex.EncodeToString(secret)),
		"spaced hex": fmt.Sprintf("% x", secret),
		"SPACED HEX": fmt.Sprintf("% X", secret),
		"%v":         strings.Trim(fmt.Sprint(secret), "[]"),
	}
	var b bytes.Buffer
	zl := zerolog.New(&b)
	zl.Log().Bytes("s", secret).Send()
	var rec map[string]json.RawMessage
	if json.Unmarshal(b.Bytes(), &rec) == nil {
		if s := string(rec["s"]); len(s) >= 2 {
			m["zerolog-escaped"] = s[1 : len(s)-1]
		}
	}
	for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
		for off := range 3 {
			// Characters fully determined by the secret when off bytes of
			// something else precede it.
			e := enc.EncodeToString(append(make([]byte, off), secret...))
			start := (off*8 + 5) / 6
			end := (off + len(secret)) * 8 / 6
			m[fmt.Sprintf("%s@%d", name, off)] = e[start:end]
		}
	}
	return m
}

// leaks returns the forms of secret found in logs.
func leaks(logs string, secret []byte) []string {
	var found []string
	for name, form := range secretForms(secret) {
		if len(form) >= 8 && strings.Contains(logs, form) {
			found = append(found, name)
		}
	}
	return found
}

// TestLogLeakDetector makes sure the detector used below finds a secret
// logged in the usual ways, so that a clean result means something.
func TestLogLeakDetector(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	blob := append(append([]byte("prefix:"), secret...), ":suffix"...)
	for name, log := range map[string]func(e *zerolog.Event){
		"Bytes":         func(e *zerolog.Event) { e.Bytes("key", secret) },
		"Bytes in blob": func(e *zerolog.Event) { e.Bytes("msg", blob) },
		"Str":           func(e *zerolog.Event) { e.Str("msg", "key "+string(secret)) },
		"Hex in blob":   func(e *zerolog.Event) { e.Hex("msg", blob) },
		"Interface":     func(e *zerolog.Event) { e.Interface("msg", blob) }, // base64
		"Err %v":        func(e *zerolog.Event) { e.Err(fmt.Errorf("bad key %v", secret)) },
		"Err %X":        func(e *zerolog.Event) { e.Err(fmt.Errorf("bad key %X!", secret)) },
		"Err % x":       func(e *zerolog.Event) { e.Err(fmt.Errorf("bad key % x", blob)) },
		"url base64": func(e *zerolog.Event) {
			e.Str("msg", base64.RawURLEncoding.EncodeToString(append([]byte{1}, blob...)))
		},
	} {
		var b bytes.Buffer
		zl := zerolog.New(&b)
		ev := zl.Info()
		log(ev)
		ev.Msg("test")
		if len(leaks(b.String(), secret)) == 0 {
			t.Errorf("%s: secret not detected in %s", name, b.String())
		}
	}
	if got := leaks("kmipd serving KMIP over mutual TLS 0123456789abcdef", secret); len(got) != 0 {
		t.Errorf("false positive: %v", got)
	}
}

// registerSecretData registers a password as Secret Data and returns its
// Unique Identifier, or the error.
func registerSecretData(c *kmip.Client, secret []byte, extra func(b *ttlv.Builder)) (string, error) {
	return registerSecretDataOf(c, kmip.SecretDataTypePassword, secret, extra)
}

// registerSecretDataOf is registerSecretData for Secret Data of type typ.
func registerSecretDataOf(c *kmip.Client, typ kmip.SecretDataType, secret []byte, extra func(b *ttlv.Builder)) (string, error) {
	_, it, err := c.Do(kmip.OperationRegister, secretDataPayload(typ, secret, extra))
	if err != nil {
		return "", err
	}
	var id []byte
	p := it.Payload
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		return "", fmt.Errorf("malformed Register response: %s", ttlv.Format(it.Payload))
	}
	return string(id), nil
}

// secretDataPayload is a KMIP 2.0 Register of Secret Data of type typ;
// extra, if set, adds items after the Key Block.
func secretDataPayload(typ kmip.SecretDataType, secret []byte, extra func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData))
		b.Begin(ttlv.TagAttributes)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskDeriveKey))
		b.End()
		b.Begin(ttlv.TagSecretData)
		b.AddEnum(ttlv.TagSecretDataType, uint32(typ))
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeOpaque))
		b.Begin(ttlv.TagKeyValue)
		b.AddBytes(ttlv.TagKeyMaterial, secret)
		b.End()
		b.End()
		if extra != nil {
			extra(b)
		}
		b.End()
	}
}

// TestLogsNeverContainSecrets runs the server at debug level with JSON logs
// through key creation, retrieval, a password's registration and failing
// requests that carry secrets, then searches the log for every secret.
func TestLogsNeverContainSecrets(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Log.Level, cfg.Log.Format = "127.0.0.1:0", "debug", "json"
	srv := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, srv.addr)

	secrets := map[string][]byte{}
	id, err := createKey(c, "log-test-key")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	key, err := getKey(c, id)
	if err != nil || len(key) != 32 {
		t.Fatalf("Get: %d bytes, %v", len(key), err)
	}
	secrets["created key"] = key

	password := []byte("kmipd-log-test Tr0ub4dor&3 correct horse battery staple")
	secrets["password"] = password
	pwID, err := registerSecretData(c, password, nil)
	if err != nil {
		t.Fatalf("Register Secret Data: %v", err)
	}
	ot, _, got, err := getMaterial(c, pwID)
	if err != nil || ot != kmip.ObjectTypeSecretData || !bytes.Equal(got, password) {
		t.Fatalf("Get of the password: %v %q %v", ot, got, err)
	}

	// Failing requests, two of them carrying secrets.
	if _, err := getKey(c, "no-such-object"); !isKMIPError(err) {
		t.Errorf("Get of an unknown object: %v, want a KMIP failure", err)
	}
	rejected := []byte("kmipd-log-test rejected-password-8d1f0b26c5e04a77")
	secrets["password in a rejected Register"] = rejected
	if _, err := registerSecretData(c, rejected, func(b *ttlv.Builder) { b.AddText(ttlv.TagComment, "unexpected") }); !isKMIPError(err) {
		t.Errorf("Register with an unexpected item: %v, want a KMIP failure", err)
	}

	// A malformed message (an invalid item type right before a secret) on a
	// connection of its own.
	malformed := []byte("kmipd-log-test malformed-message-secret-5b7e9a01c3d2")
	secrets["secret in a malformed message"] = malformed
	req := rawRequest(t, kmip.OperationRegister, secretDataPayload(kmip.SecretDataTypePassword, malformed, nil))
	i := bytes.Index(req, malformed)
	if i < 8 {
		t.Fatal("secret not found in the request")
	}
	req[i-5] = 0x0f // the Key Material's type byte: no such type
	conn, err := tls.Dial("tcp", srv.addr, clientTLS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	var ke *kmip.Error
	if _, err := readResponse(conn); !errors.As(err, &ke) || ke.Reason != kmip.ResultReasonInvalidMessage {
		t.Errorf("malformed message: %v, want Invalid Message", err)
	}
	conn.Close()

	mk, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	secrets["master key"] = mk

	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	logs := srv.logs.String()

	// The log is there, at debug level, in JSON.
	var serving, debug, identity bool
	for _, line := range strings.Split(logs, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the connection help serve prints
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %v: %s", err, line)
			continue
		}
		msg, _ := rec["message"].(string)
		serving = serving || strings.HasPrefix(msg, servingMsg)
		debug = debug || rec["level"] == "debug"
		identity = identity || rec["identity"] == "admin"
	}
	if !serving || !debug || !identity {
		t.Errorf("log lacks the serving message (%v), a debug record (%v) or a record naming the client (%v):\n%s",
			serving, debug, identity, logs)
	}

	for what, s := range secrets {
		if found := leaks(logs, s); len(found) > 0 {
			t.Errorf("the log contains the %s (%s)", what, strings.Join(found, ", "))
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}
