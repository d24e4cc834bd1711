//go:build cgo

package pkcs11

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/kmipd/kmipd/hsm/pkcs11/softhsmtest"
)

// Tokens of this test process (see TestMain).
const (
	mainToken    = "kmipd-test"    // KEK version 1 created in TestMain
	emptyToken   = "kmipd-empty"   // no KEK: CreateKEK and Open's checks
	removedToken = "kmipd-removed" // its files are deleted by TestTokenRemoved
	rotateToken  = "kmipd-rotate"  // master-key rotation
	monitorToken = "kmipd-monitor" // removed under the health monitor
	// Key cache tests count the session objects of these tokens.
	cacheToken    = "kmipd-cache"
	cacheRotToken = "kmipd-cache-rotate"
)

var (
	softhsm    *softhsmtest.Env
	softhsmErr error
)

// TestMain gives the test process a private SoftHSM token directory; it
// must exist before the module is initialised.
func TestMain(m *testing.M) {
	softhsm, softhsmErr = softhsmtest.Setup(mainToken, emptyToken, removedToken, rotateToken, monitorToken, cacheToken, cacheRotToken)
	if softhsmErr == nil {
		for _, tok := range []string{mainToken, removedToken, rotateToken, monitorToken, cacheToken, cacheRotToken} {
			if err := CreateKEK(testOptions(tok)); err != nil {
				softhsmErr = fmt.Errorf("CreateKEK on %s: %w", tok, err)
				break
			}
		}
	}
	code := m.Run()
	if softhsm != nil {
		softhsm.Close()
	}
	os.Exit(code)
}

func testOptions(token string) Options {
	return Options{Module: softhsm.Module, Token: token, PIN: softhsmtest.UserPIN}
}

// needHSM skips (or in CI fails) the test when SoftHSM is not available.
func needHSM(t testing.TB) {
	t.Helper()
	if softhsmErr != nil {
		softhsmtest.Unavailable(t, softhsmErr)
	}
}

// openTest opens a backend on token, closed when the test ends.
func openTest(t testing.TB, token string) *Backend {
	t.Helper()
	needHSM(t)
	b, err := Open(testOptions(token))
	if err != nil {
		t.Fatalf("Open(%s): %v", token, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var bg = context.Background()
