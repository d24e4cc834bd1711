package pki_test

import (
	"testing"

	"github.com/kmipd/kmipd/internal/pki"
)

// LoadCA returns the CA of a bundle and refuses a key of another CA and a
// certificate that is not a CA.
func TestLoadCA(t *testing.T) {
	a, err := pki.Generate(pki.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.Generate(pki.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := pki.LoadCA(a.CACert, a.CAKey)
	if err != nil || !cert.IsCA || key == nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if _, _, err := pki.LoadCA(a.CACert, b.CAKey); err == nil {
		t.Error("LoadCA accepted another CA's key")
	}
	if _, _, err := pki.LoadCA(a.ServerCert, a.ServerKey); err == nil {
		t.Error("LoadCA accepted a server certificate")
	}
}
