//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// module is one loaded PKCS#11 library. C_Initialize runs once per process
// (a second call fails with CKR_CRYPTOKI_ALREADY_INITIALIZED), so every
// Backend using the same library shares one module.
type module struct {
	path string
	p    *pkcs11.Ctx

	// mu is held for reading by every operation for as long as it uses a
	// session, and for writing by recovery and administrative changes
	// (sessions, KEK handles, re-initialisation), which therefore never
	// overlap an operation in flight.
	mu sync.RWMutex
	// epoch counts C_Finalize calls: sessions opened in an older epoch
	// are gone. Guarded by mu.
	epoch uint64
}

var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

// loadModule returns the module for path, loading and initialising the
// library on first use. It stays loaded for the life of the process.
func loadModule(path string) (*module, error) {
	key := path
	if r, err := filepath.EvalSymlinks(path); err == nil {
		key = r
	}
	modules.Lock()
	defer modules.Unlock()
	if m := modules.m[key]; m != nil {
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("pkcs11: module: %w", err)
	}
	p := pkcs11.New(path)
	if p == nil {
		return nil, fmt.Errorf("pkcs11: cannot load %s as a PKCS#11 module", path)
	}
	if err := p.Initialize(); err != nil && !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		p.Destroy()
		return nil, fmt.Errorf("pkcs11: C_Initialize of %s: %w (for SoftHSM: check SOFTHSM2_CONF and its tokendir)", path, p11err(err))
	}
	m := &module{path: path, p: p, epoch: 1}
	modules.m[key] = m
	return m, nil
}

// reinit finalizes and initialises the library again; every session of the
// process is lost. The caller holds mu for writing.
func (m *module) reinit() error {
	_ = m.p.Finalize()
	m.epoch++
	if err := m.p.Initialize(); err != nil && !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("pkcs11: C_Initialize of %s: %w", m.path, p11err(err))
	}
	return nil
}

// findSlot returns the slot holding the initialised token labelled label.
func findSlot(p *pkcs11.Ctx, label string) (uint, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, call("C_GetSlotList", err)
	}
	var seen []string
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil {
			continue
		}
		l := strings.TrimRight(ti.Label, " \x00")
		if l == label && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			return s, nil
		}
		if l != "" {
			seen = append(seen, fmt.Sprintf("%q", l))
		}
	}
	if len(seen) == 0 {
		return 0, fmt.Errorf("pkcs11: token %q not found: the module shows no initialised token", label)
	}
	return 0, fmt.Errorf("pkcs11: token %q not found (tokens: %s)", label, strings.Join(seen, ", "))
}

// callError is a failed PKCS#11 call.
type callError struct {
	fn  string
	err error // a pkcs11.Error
}

func (e *callError) Error() string { return "pkcs11: " + e.fn + ": " + ckrName(e.err) }
func (e *callError) Unwrap() error { return e.err }

// call wraps the error of PKCS#11 function fn; nil stays nil.
func call(fn string, err error) error {
	if err == nil {
		return nil
	}
	return &callError{fn: fn, err: err}
}

// p11err drops miekg's "pkcs11: " prefix from err.
func p11err(err error) error {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return errors.New(ckrName(e))
	}
	return err
}

func ckrName(err error) string {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	s := e.Error() // "pkcs11: 0x5: CKR_GENERAL_ERROR"
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return fmt.Sprintf("%s (0x%X)", s[i+2:], uint(e))
	}
	return s
}

// ckr returns the PKCS#11 return value in err's chain.
func ckr(err error) (uint, bool) {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e), true
	}
	return 0, false
}

func isCKR(err error, codes ...uint) bool {
	c, ok := ckr(err)
	if !ok {
		return false
	}
	for _, x := range codes {
		if c == x {
			return true
		}
	}
	return false
}

// errClass groups PKCS#11 return values by what the backend does about
// them (hsm.md §5).
type errClass int

const (
	classOther   errClass = iota // report as is
	classSession                 // the session is gone: recover, retry once
	classHandle                  // handles or login lost: recover, retry once
	classDevice                  // the token or library is in trouble: recover, retry once
	classData                    // the input (a blob) is bad
)

func classify(err error) errClass {
	c, ok := ckr(err)
	if !ok {
		return classOther
	}
	switch c {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED:
		return classSession
	case pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID,
		pkcs11.CKR_WRAPPING_KEY_HANDLE_INVALID, pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID,
		pkcs11.CKR_USER_NOT_LOGGED_IN:
		return classHandle
	case pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_FUNCTION_FAILED, pkcs11.CKR_DEVICE_ERROR,
		pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_DEVICE_MEMORY, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
		pkcs11.CKR_SLOT_ID_INVALID:
		return classDevice
	case pkcs11.CKR_WRAPPED_KEY_INVALID, pkcs11.CKR_WRAPPED_KEY_LEN_RANGE,
		pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE:
		return classData
	}
	return classOther
}
