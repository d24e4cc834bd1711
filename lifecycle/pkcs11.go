package lifecycle

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// PKCS#11 Function values: a function's position in the PKCS#11 v2.40
// CK_FUNCTION_LIST (C_Initialize is 1), as the OASIS profile files encode
// them (PKCS11-M-1-21: C_Initialize 1, C_Finalize 2, C_GetInfo 3).
const (
	P11Initialize  kmip.PKCS_11Function = 1
	P11Finalize    kmip.PKCS_11Function = 2
	P11GetInfo     kmip.PKCS_11Function = 3
	P11InitToken   kmip.PKCS_11Function = 10
	P11InitPIN     kmip.PKCS_11Function = 11
	P11SetPIN      kmip.PKCS_11Function = 12
	P11Login       kmip.PKCS_11Function = 19
	P11Logout      kmip.PKCS_11Function = 20
	p11MaxFunction kmip.PKCS_11Function = 68 // C_WaitForSlotEvent, the last of v2.40
)

// PKCS#11 return codes (CK_RV, PKCS#11 v2.40) kmipd answers with.
const (
	CKROK                       kmip.PKCS_11ReturnCode = 0x000
	CKRFunctionNotSupported     kmip.PKCS_11ReturnCode = 0x054
	CKRCryptokiNotInitialized   kmip.PKCS_11ReturnCode = 0x190
	CKRCryptokiAlreadyInitiated kmip.PKCS_11ReturnCode = 0x191
)

// DefaultPKCS11Functions are the PKCS#11 functions a client may call
// without configuration: those that only describe the library.
var DefaultPKCS11Functions = []kmip.PKCS_11Function{P11Initialize, P11Finalize, P11GetInfo}

// neverPKCS11 are functions no configuration allows: they would administer
// the token or log in to it as kmipd, whose token login (and the master key
// under it) is kmipd's own, never a client's.
var neverPKCS11 = map[kmip.PKCS_11Function]bool{
	P11InitToken: true, P11InitPIN: true, P11SetPIN: true, P11Login: true, P11Logout: true,
}

// ValidPKCS11Function reports whether f may be put on the allow-list
// (Config.PKCS11Functions): a PKCS#11 v2.40 function that neither
// administers the token nor logs in to it.
func ValidPKCS11Function(f kmip.PKCS_11Function) bool {
	return f >= P11Initialize && f <= p11MaxFunction && !neverPKCS11[f]
}

// p11Limit bounds the PKCS#11 interfaces one identity may hold initialised
// at once (each C_Initialize without C_Finalize holds one).
const p11Limit = 8

// p11Sessions are the PKCS#11 interfaces clients have initialised, by
// Correlation Value, with the identity that owns each.
type p11Sessions struct {
	mu    sync.Mutex
	owner map[string]string
	count map[string]int
}

// pkcs11 is the PKCS#11 operation (KMIP 2.0 and 2.1): kmipd serves the
// PKCS#11 functions of Config.PKCS11Functions (DefaultPKCS11Functions when
// unset) on the client's behalf. C_Initialize hands out the Correlation
// Value that the client's later calls carry, C_Finalize ends it; C_GetInfo
// answers with the CK_INFO of the key backend's PKCS#11 library, or, with
// the software backend, of kmipd itself. A function outside the allow-list
// is refused with Permission Denied; an allowed one kmipd does not carry
// out answers CKR_FUNCTION_NOT_SUPPORTED. A function's failure is its
// Return Code in a successful response, as PKCS#11 reports it.
func (s *Service) pkcs11(c *kmip.Call, w *ttlv.Builder) error {
	v := c.Item.Payload
	var iface, corr, in []byte
	var fn uint32
	v.ReadText(ttlv.TagPKCS_11Interface, &iface)
	if !v.ReadEnum(ttlv.TagPKCS_11Function, &fn) {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "PKCS#11 request lacks PKCS#11 Function")
	}
	v.ReadBytes(ttlv.TagCorrelationValue, &corr)
	v.ReadBytes(ttlv.TagPKCS_11InputParameters, &in)
	if !v.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected items in PKCS#11 request")
	}
	f := kmip.PKCS_11Function(fn)
	if !s.p11Allowed(f) {
		return kmip.Errorf(kmip.ResultReasonPermissionDenied, "PKCS#11 function %d is not allowed", fn)
	}
	if iface != nil {
		w.AddTextBytes(ttlv.TagPKCS_11Interface, iface)
	}
	w.AddEnum(ttlv.TagPKCS_11Function, fn)
	rc := CKROK
	switch f {
	case P11Initialize:
		// The input parameters (CK_C_INITIALIZE_ARGS) describe the
		// client's threading; kmipd's side needs none of it.
		if corr != nil && s.p11.owns(c.Identity.Name, corr) {
			rc = CKRCryptokiAlreadyInitiated
			break
		}
		cv, err := s.p11.open(c.Identity.Name)
		if err != nil {
			return err
		}
		w.AddBytes(ttlv.TagCorrelationValue, cv)
	case P11Finalize:
		if !s.p11.close(c.Identity.Name, corr) {
			rc = CKRCryptokiNotInitialized
		}
	case P11GetInfo:
		if !s.p11.owns(c.Identity.Name, corr) {
			rc = CKRCryptokiNotInitialized
			break
		}
		info, err := s.libraryInfo(c)
		if err != nil {
			return err
		}
		w.AddBytes(ttlv.TagPKCS_11OutputParameters, encodeCKInfo(info))
	default:
		rc = CKRFunctionNotSupported
	}
	w.AddEnum(ttlv.TagPKCS_11ReturnCode, uint32(rc))
	return nil
}

// p11Allowed reports whether the allow-list has f.
func (s *Service) p11Allowed(f kmip.PKCS_11Function) bool {
	if neverPKCS11[f] {
		return false
	}
	list := s.cfg.PKCS11Functions
	if list == nil {
		list = DefaultPKCS11Functions
	}
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

// libraryInfo returns the CK_INFO C_GetInfo reports.
func (s *Service) libraryInfo(c *kmip.Call) (hsm.LibraryInfo, error) {
	if li, ok := s.cfg.Backend.(hsm.LibraryInformer); ok {
		info, err := li.LibraryInfo(c.Context())
		if err != nil {
			return info, kmip.Errorf(kmip.ResultReasonGeneralFailure, "PKCS#11 library information unavailable: %v", err)
		}
		return info, nil
	}
	// No PKCS#11 library behind the software backend: kmipd describes
	// itself, in the CK_INFO layout of PKCS#11 v2.40.
	return hsm.LibraryInfo{CryptokiMajor: 2, CryptokiMinor: 40, Manufacturer: "kmipd",
		Description: "kmipd software key backend", LibraryMajor: 1}, nil
}

// encodeCKInfo lays out a CK_INFO as PKCS11-M-1-21 shows it: the versions
// as two bytes each, the strings blank-padded to 32 bytes, CK_FLAGS as 8
// bytes big-endian; 76 bytes.
func encodeCKInfo(i hsm.LibraryInfo) []byte {
	b := make([]byte, 0, 76)
	b = append(b, i.CryptokiMajor, i.CryptokiMinor)
	b = appendPadded(b, i.Manufacturer)
	b = binary.BigEndian.AppendUint64(b, i.Flags)
	b = appendPadded(b, i.Description)
	return append(b, i.LibraryMajor, i.LibraryMinor)
}

// appendPadded appends s cut or blank-padded to 32 bytes.
func appendPadded(b []byte, s string) []byte {
	if len(s) > 32 {
		s = s[:32]
	}
	b = append(b, s...)
	for range 32 - len(s) {
		b = append(b, ' ')
	}
	return b
}

// open starts a PKCS#11 interface for id and returns its Correlation Value.
func (p *p11Sessions) open(id string) ([]byte, error) {
	cv := make([]byte, 16)
	if _, err := rand.Read(cv); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count[id] >= p11Limit {
		return nil, kmip.Errorf(kmip.ResultReasonGeneralFailure, "at most %d PKCS#11 interfaces may be initialised at once; C_Finalize one", p11Limit)
	}
	if p.owner == nil {
		p.owner, p.count = make(map[string]string), make(map[string]int)
	}
	p.owner[string(cv)] = id
	p.count[id]++
	return cv, nil
}

// owns reports whether cv is an interface id initialised.
func (p *p11Sessions) owns(id string, cv []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.owner[string(cv)]
	return ok && o == id
}

// close ends id's interface cv; false if id has no such interface.
func (p *p11Sessions) close(id string, cv []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.owner[string(cv)]; !ok || o != id {
		return false
	}
	delete(p.owner, string(cv))
	if p.count[id]--; p.count[id] == 0 {
		delete(p.count, id)
	}
	return true
}
