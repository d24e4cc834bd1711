package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
)

// Ensure that attrs add, set, modify and delete change what attrs get
// shows, in 2.x and (add, modify, delete) 1.x forms.
func TestAttrs_Change(t *testing.T) {
	e := newCtlEnv(t)
	for _, op := range []string{"AddAttribute", "SetAttribute", "ModifyAttribute", "DeleteAttribute"} {
		if !e.supports(op) {
			t.Skipf("the server does not support %s", op)
		}
	}
	id := e.create("--name", "attrs-1")
	var ch attrChangeJSON
	e.json(&ch, "attrs", "set", id, "contact-information", "alice@example.com")
	if ch.ID != id || ch.Operation != "SetAttribute" || ch.Attribute != "ContactInformation" {
		t.Fatalf("set: %+v", ch)
	}
	if v, _ := e.attr(id, "ContactInformation"); v != "alice@example.com" {
		t.Fatalf("after set: %v", v)
	}
	e.ok("attrs", "modify", id, "ContactInformation", "bob@example.com")
	if v, _ := e.attr(id, "ContactInformation"); v != "bob@example.com" {
		t.Fatalf("after modify: %v", v)
	}
	e.ok("attrs", "add", id, "Name", "attrs-1b")
	e.ok("attrs", "modify", id, "Name", "attrs-1c", "--current", "attrs-1b")
	var l locateJSON
	e.json(&l, "locate", "--name", "attrs-1c")
	if !slices.Equal(l.IDs, []string{id}) {
		t.Fatalf("locate modified name: %v", l.IDs)
	}
	e.ok("attrs", "delete", id, "Name", "--current", "attrs-1c")
	e.json(&l, "locate", "--name", "attrs-1c")
	if l.Count != 0 {
		t.Fatalf("deleted name still located")
	}
	e.ok("attrs", "set", id, "x-team", "payments")
	if v, _ := e.attr(id, "x-team"); v != "payments" {
		t.Fatalf("x-team = %v", v)
	}
	e.ok("attrs", "set", id, "ActivationDate", "now+240h")
	if v, ok := e.attr(id, "ActivationDate"); !ok || !strings.HasPrefix(fmt.Sprint(v), time.Now().Add(240*time.Hour).UTC().Format("2006-01-02")) {
		t.Errorf("ActivationDate = %v", v)
	}
	e.ok("attrs", "delete", id, "ContactInformation")
	if _, ok := e.attr(id, "ContactInformation"); ok {
		t.Fatal("ContactInformation not deleted")
	}
	// Deleting what is not there: not found.
	if _, errOut, code := e.run("attrs", "delete", id, "ContactInformation"); code != 5 {
		t.Errorf("delete missing attribute: exit %d %s", code, errOut)
	}
	// A read-only attribute: a KMIP failure.
	if _, errOut, code := e.run("attrs", "set", id, "State", "active"); code != 4 {
		t.Errorf("set State: exit %d %s", code, errOut)
	}

	// KMIP 1.4: Attribute structures with names and indexes.
	e.ok("attrs", "add", id, "x-note", "one", "--version", "1.4")
	e.ok("attrs", "add", id, "x-note", "two", "--version", "1.4")
	e.ok("attrs", "modify", id, "x-note", "deux", "--index", "1", "--version", "1.4")
	var res attrsJSON
	e.json(&res, "attrs", "get", id, "x-note", "--version", "1.4")
	var notes []string
	for _, a := range res.Attributes {
		notes = append(notes, fmt.Sprintf("%v/%d", a.Value, a.Index))
	}
	if !slices.Equal(notes, []string{"one/0", "deux/1"}) {
		t.Errorf("1.4 x-note instances %v", notes)
	}
	e.ok("attrs", "delete", id, "x-note", "--index", "1", "--version", "1.4")
	e.json(&res, "attrs", "get", id, "x-note", "--version", "1.4")
	if len(res.Attributes) != 1 || res.Attributes[0].Value != "one" {
		t.Errorf("after 1.4 delete: %+v", res.Attributes)
	}
}

// writeFile writes data to a new file in a temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Ensure that register reads symmetric keys, secrets and opaque data from
// raw files and that get returns them unchanged.
func TestRegister_Symmetric(t *testing.T) {
	e := newCtlEnv(t)
	key := bytes.Repeat([]byte{0x5a}, 32)
	var r createdJSON
	e.json(&r, "register", "--type", "symmetric", "--file", writeFile(t, "aes.key", key), "--format", "raw", "--name", "reg-aes")
	if r.ObjectType != "SymmetricKey" {
		t.Fatalf("register: %+v", r)
	}
	var g getJSON
	e.json(&g, "get", r.ID)
	if g.KeyHex != hex.EncodeToString(key) || g.Length != 256 || g.Algorithm != "AES" {
		t.Fatalf("get registered key: %+v", g)
	}
	if v, _ := e.attr(r.ID, "CryptographicUsageMask"); v != "Encrypt|Decrypt" {
		t.Errorf("usage %v", v)
	}
	// --out writes the material; --format transparent asks for it so.
	out := filepath.Join(t.TempDir(), "out.key")
	g = getJSON{}
	e.json(&g, "get", r.ID, "--format", "transparent", "--out", out)
	if data, err := os.ReadFile(out); err != nil || !bytes.Equal(data, key) || g.KeyFormat != "TransparentSymmetricKey" || g.KeyHex != "" {
		t.Fatalf("get --out: %+v, %x, %v", g, data, err)
	}

	e.json(&r, "register", "--type", "secret", "--file", writeFile(t, "pw", []byte("hunter2")))
	e.json(&g, "get", r.ID)
	if g.ObjectType != "SecretData" || g.DataType != "Password" || g.KeyHex != hex.EncodeToString([]byte("hunter2")) {
		t.Fatalf("secret: %+v", g)
	}
	e.json(&r, "register", "--type", "opaque", "--file", writeFile(t, "blob", []byte{1, 2, 3}))
	e.json(&g, "get", r.ID)
	if g.ObjectType != "OpaqueObject" || g.KeyHex != "010203" {
		t.Fatalf("opaque: %+v", g)
	}
	// A PEM file's block is the material.
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "AES KEY", Bytes: key[:16]})
	e.json(&r, "register", "--type", "symmetric", "--file", writeFile(t, "aes.pem", pemKey))
	e.json(&g, "get", r.ID)
	if g.Length != 128 || g.KeyHex != hex.EncodeToString(key[:16]) {
		t.Fatalf("PEM symmetric key: %+v", g)
	}
	// A file that is not what --type says: a usage error.
	if _, errOut, code := e.run("register", "--type", "private", "--file", writeFile(t, "junk", []byte("junk"))); code != 2 {
		t.Errorf("junk private key: exit %d %s", code, errOut)
	}
}

// Ensure that register parses private keys, public keys and certificates;
// a server that does not store them answers with a KMIP failure.
func TestRegister_Asymmetric(t *testing.T) {
	e := newCtlEnv(t)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "kmipctl test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ, label, getFormat string
		der                   []byte
		objectType            string
	}{
		{"private", "PRIVATE KEY", "pkcs8", der, "PrivateKey"},
		{"public", "PUBLIC KEY", "x509", pubDER, "PublicKey"},
		{"certificate", "CERTIFICATE", "", certDER, "Certificate"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			e.t = t
			pemData := pem.EncodeToMemory(&pem.Block{Type: tc.label, Bytes: tc.der})
			out, errOut, code := e.run("register", "--type", tc.typ, "--file", writeFile(t, "f.pem", pemData), "-o", "json")
			if code == 4 {
				// Not supported by this server: the KMIP error path.
				if !strings.Contains(errOut, "kmipctl: register: ") || !strings.Contains(errOut, "(KMIP ") {
					t.Fatalf("register %s: %s", tc.typ, errOut)
				}
				t.Logf("server refuses %s: %s", tc.typ, strings.TrimSpace(errOut))
				return
			}
			if code != 0 {
				t.Fatalf("register %s: exit %d %s%s", tc.typ, code, out, errOut)
			}
			var r createdJSON
			if err := jsonUnmarshal(out, &r); err != nil || r.ObjectType != tc.objectType {
				t.Fatalf("register %s: %s", tc.typ, out)
			}
			var g getJSON
			e.json(&g, "get", r.ID)
			if g.KeyHex != hex.EncodeToString(tc.der) {
				t.Errorf("get %s: %+v", tc.typ, g)
			}
			file := filepath.Join(t.TempDir(), "out.pem")
			e.ok("get", r.ID, "--format", "pem", "--out", file)
			if got, _ := os.ReadFile(file); !bytes.Equal(got, pemData) {
				t.Errorf("get --format pem:\n%s", got)
			}
		})
	}
}

// Ensure that create-key-pair creates both keys on a server with Create
// Key Pair, and reports the KMIP failure otherwise.
func TestCreateKeyPair(t *testing.T) {
	e := newCtlEnv(t)
	for _, args := range [][]string{
		{"--alg", "RSA", "--length", "2048", "--name", "kp-rsa"},
		{"--curve", "P-256", "--name", "kp-ec"},
	} {
		out, errOut, code := e.run(append([]string{"create-key-pair", "-o", "json"}, args...)...)
		if !e.supports("CreateKeyPair") {
			if code != 4 || !strings.Contains(errOut, "create-key-pair: operation not supported (KMIP OperationNotSupported)") {
				t.Fatalf("create-key-pair on a server without it: exit %d %s", code, errOut)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("create-key-pair %v: exit %d %s", args, code, errOut)
		}
		var kp keyPairJSON
		if err := jsonUnmarshal(out, &kp); err != nil || kp.PrivateKeyID == "" || kp.PublicKeyID == "" {
			t.Fatalf("create-key-pair: %s", out)
		}
		name := args[len(args)-1]
		var l locateJSON
		e.json(&l, "locate", "--name", name)
		if !slices.Equal(l.IDs, []string{kp.PrivateKeyID}) {
			t.Errorf("private key by name: %v", l.IDs)
		}
		e.json(&l, "locate", "--name", name+".pub")
		if !slices.Equal(l.IDs, []string{kp.PublicKeyID}) {
			t.Errorf("public key by name: %v", l.IDs)
		}
		if v, _ := e.attr(kp.PublicKeyID, "ObjectType"); v != "PublicKey" {
			t.Errorf("public key object type %v", v)
		}
	}
}

// Ensure that rekey returns the replacement, linked to the old key.
func TestRekey(t *testing.T) {
	e := newCtlEnv(t)
	if !e.supports("ReKey") {
		t.Skip("the server does not support Re-key")
	}
	id := e.create("--name", "rk")
	var r rekeyJSON
	e.json(&r, "rekey", id, "--attr", "x-generation=2")
	if r.ReplacedID != id || r.ID == "" || r.ID == id {
		t.Fatalf("rekey: %+v", r)
	}
	if v, _ := e.attr(r.ID, "Link"); fmt.Sprint(v) != "map[LinkType:ReplacedObjectLink LinkedObjectIdentifier:"+id+"]" {
		t.Errorf("replacement link %v", v)
	}
	if v, _ := e.attr(r.ID, "x-generation"); v != "2" {
		t.Errorf("x-generation %v", v)
	}
	var l locateJSON
	e.json(&l, "locate", "--name", "rk")
	if !slices.Equal(l.IDs, []string{r.ID}) {
		t.Errorf("the name did not move: %v", l.IDs)
	}
}

// Ensure that export writes a document import reads back, in each
// encoding, by KMIP Import or, without it, Register.
func TestExportImport(t *testing.T) {
	e := newCtlEnv(t)
	id := e.create("--attr", "x-origin=export-test", "--group", "exported")
	var g getJSON
	e.json(&g, "get", id)
	for _, enc := range []string{"json", "xml", "ttlv", "hex"} {
		t.Run(enc, func(t *testing.T) {
			e.t = t
			file := filepath.Join(t.TempDir(), "key."+enc)
			var ex exportJSON
			e.json(&ex, "export", id, "--file", file, "--encoding", enc)
			if ex.ID != id || ex.ObjectType != "SymmetricKey" || ex.File != file || ex.Bytes == 0 {
				t.Fatalf("export: %+v", ex)
			}
			var im exportJSON
			e.json(&im, "import", "--file", file, "--register")
			if im.Method != "Register" || im.ID == id || im.ObjectType != "SymmetricKey" {
				t.Fatalf("import: %+v", im)
			}
			var g2 getJSON
			e.json(&g2, "get", im.ID)
			if g2.KeyHex != g.KeyHex {
				t.Fatalf("imported key differs")
			}
			if v, _ := e.attr(im.ID, "x-origin"); v != "export-test" {
				t.Errorf("imported x-origin %v", v)
			}
		})
	}
	e.t = t
	// To standard output and back from standard input, by Import when
	// the server has it (replacing the original), else by Register.
	doc := e.ok("export", id)
	if !strings.HasPrefix(doc, `{"tag":"ResponsePayload"`) {
		t.Fatalf("export to stdout: %.80s", doc)
	}
	e.in = doc
	var im exportJSON
	e.json(&im, "import", "--file", "-", "--replace", "--name", "from-stdin")
	e.in = ""
	if im.Method == "Import" && im.ID != id || im.Method == "Register" && im.ID == id || im.Method == "" {
		t.Fatalf("import: %+v", im)
	}
	var l locateJSON
	e.json(&l, "locate", "--name", "from-stdin")
	if !slices.Equal(l.IDs, []string{im.ID}) {
		t.Errorf("renamed import: %v", l.IDs)
	}
	var g3 getJSON
	e.json(&g3, "get", im.ID)
	if g3.KeyHex != g.KeyHex {
		t.Errorf("imported key differs")
	}
	// KMIP 1.4 has no Export: Get and Get Attributes instead.
	var ex exportJSON
	e.json(&ex, "export", id, "--file", filepath.Join(t.TempDir(), "k.json"), "--version", "1.4")
	if ex.Method != "Get" {
		t.Errorf("1.4 export method %s", ex.Method)
	}

	// A 2.x server without Export and Import: Get and Register.
	e = newCtlEnvWithout(t, kmip.OperationExport, kmip.OperationImport)
	id = e.create("--name", "fallback")
	file := filepath.Join(t.TempDir(), "k.json")
	e.json(&ex, "export", id, "--file", file)
	if ex.Method != "Get" {
		t.Errorf("export method %s", ex.Method)
	}
	e.json(&im, "import", "--file", file, "--name", "fallback-copy")
	if im.Method != "Register" || im.ID == id {
		t.Errorf("import: %+v", im)
	}
}

// Ensure that query, discover-versions and ping report the server.
func TestServerCommands(t *testing.T) {
	e := newCtlEnv(t)
	var q queryJSON
	e.json(&q, "query")
	if !slices.Contains(q.Operations, "Get") || !slices.Contains(q.ObjectTypes, "SymmetricKey") || q.Vendor != "kmipd" {
		t.Errorf("query: %+v", q)
	}
	if !strings.Contains(e.ok("query"), "vendor") {
		t.Error("query table output lacks the vendor")
	}
	var v versionsJSON
	e.json(&v, "discover-versions")
	if len(v.Versions) == 0 || v.Versions[0] != "2.1" || !slices.Contains(v.Versions, "1.4") {
		t.Errorf("discover-versions: %+v", v)
	}
	e.json(&v, "discover-versions", "1.4", "9.9")
	if !slices.Equal(v.Versions, []string{"1.4"}) {
		t.Errorf("discover-versions 1.4 9.9: %+v", v)
	}
	var p pingJSON
	e.json(&p, "ping", "--count", "3", "--interval", "0")
	if len(p.RTTMS) != 3 || p.MinMS <= 0 || p.MaxMS < p.AvgMS || p.ConnectMS <= 0 || p.Operation != "DiscoverVersions" || p.TLSVersion == "" {
		t.Errorf("ping: %+v", p)
	}
	out := e.ok("ping", "--op", "query")
	if !strings.Contains(out, "Query 1: ") || !strings.Contains(out, "connect+handshake") {
		t.Errorf("ping table output %q", out)
	}
}

// Ensure that the completion command writes a script.
func TestCompletion(t *testing.T) {
	isolateEnv(t)
	out, errOut, code := runCtl("", "completion", "bash")
	if code != 0 || !strings.Contains(out, "kmipctl") {
		t.Fatalf("completion bash: exit %d %s", code, errOut)
	}
	out, _, code = runCtl("", "help", "output")
	if code != 0 || !strings.Contains(out, `"ops_per_sec"`) || !strings.Contains(out, "Exit statuses") {
		t.Fatalf("help output: exit %d %.200s", code, out)
	}
}
