//go:build cgo

package pkcs11

import "testing"

// LibraryInfo reports the module's CK_INFO: SoftHSM names itself.
func TestLibraryInfo(t *testing.T) {
	b := openTest(t, mainToken)
	info, err := b.LibraryInfo(bg)
	if err != nil {
		t.Fatal(err)
	}
	if info.Manufacturer != "SoftHSM" || info.CryptokiMajor < 2 {
		t.Errorf("LibraryInfo %+v, want SoftHSM's", info)
	}
}
