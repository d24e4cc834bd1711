package access

import (
	"fmt"
	"strings"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// kmipd's vendor operations (KMIP 2.0 §10.1.1.3 extension values). Who Am
// I is served by lifecycle/whoami.go, the grant operations by
// lifecycle/grant.go.
const (
	OperationWhoAmI      kmip.Operation = 0x8000_0001
	OperationGrant       kmip.Operation = 0x8000_0010
	OperationRevokeGrant kmip.Operation = 0x8000_0011
	OperationListGrants  kmip.Operation = 0x8000_0012
)

// Payload items of the grant operations, extension tags (KMIP 2.0
// §10.1.1); lifecycle/grant.go describes the payloads.
const (
	TagGrantee     ttlv.Tag = 0x540010 // Text String: identity name
	TagFollowReKey ttlv.Tag = 0x540011 // Boolean: Re-key copies the grant
	TagGrantEntry  ttlv.Tag = 0x540012 // Structure: one grantee's grant
)

// OpSet is a set of operations: bit n of the first word is standard
// operation n (KMIP defines values below 64), bit n of the second is vendor
// operation 0x80000000+n. Other values are never members.
type OpSet [2]uint64

func opBit(op kmip.Operation) (word int, bit uint64, ok bool) {
	switch {
	case op < 64:
		return 0, 1 << uint(op), true
	case op >= 0x8000_0000 && op < 0x8000_0040:
		return 1, 1 << uint(op-0x8000_0000), true
	}
	return 0, 0, false
}

// Add puts op in s (a value outside both ranges is ignored).
func (s *OpSet) Add(op kmip.Operation) {
	if w, b, ok := opBit(op); ok {
		s[w] |= b
	}
}

// Remove takes op out of s.
func (s *OpSet) Remove(op kmip.Operation) {
	if w, b, ok := opBit(op); ok {
		s[w] &^= b
	}
}

// Has reports whether op is in s.
func (s OpSet) Has(op kmip.Operation) bool {
	w, b, ok := opBit(op)
	return ok && s[w]&b != 0
}

// Union returns s ∪ t.
func (s OpSet) Union(t OpSet) OpSet { return OpSet{s[0] | t[0], s[1] | t[1]} }

// Empty reports whether s has no operation.
func (s OpSet) Empty() bool { return s[0] == 0 && s[1] == 0 }

// Ops lists the members of s in ascending order of value.
func (s OpSet) Ops() []kmip.Operation {
	var out []kmip.Operation
	for w := range 2 {
		for n := range 64 {
			if s[w]&(1<<uint(n)) != 0 {
				out = append(out, kmip.Operation(uint32(w)<<31|uint32(n)))
			}
		}
	}
	return out
}

// NewOpSet returns the set of ops.
func NewOpSet(ops ...kmip.Operation) OpSet {
	var s OpSet
	for _, op := range ops {
		s.Add(op)
	}
	return s
}

// Standard operations KMIP defines (1.0 through 2.1).
const lastStandardOp = kmip.OperationPing

var vendorNames = map[kmip.Operation]string{
	OperationWhoAmI:      "whoami",
	OperationGrant:       "grant",
	OperationRevokeGrant: "revoke-grant",
	OperationListGrants:  "list-grants",
}

// opsByName maps normalized operation names (normName) to operations.
var opsByName = func() map[string]kmip.Operation {
	m := make(map[string]kmip.Operation)
	for op := kmip.Operation(1); op <= lastStandardOp; op++ {
		m[normName(op.String())] = op
	}
	for op, n := range vendorNames {
		m[normName(n)] = op
	}
	return m
}()

// normName lowercases s and drops spaces, hyphens and underscores, so that
// "Signature Verify", "signature-verify" and "SignatureVerify" are one name.
func normName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_':
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// ParseOp reads an operation name: the KMIP name in any case, with or
// without spaces, hyphens or underscores (encrypt, SignatureVerify,
// mac-verify, re-key), or a kmipd vendor operation (whoami, grant,
// revoke-grant, list-grants).
func ParseOp(s string) (kmip.Operation, error) {
	if op, ok := opsByName[normName(s)]; ok {
		return op, nil
	}
	return 0, fmt.Errorf("unknown operation %q", s)
}

// OpName is the name ParseOp reads back: kebab-case of the KMIP name
// (signature-verify), or the vendor operation's name.
func OpName(op kmip.Operation) string {
	if n, ok := vendorNames[op]; ok {
		return n
	}
	s := op.String()
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			// A new word starts at an upper-case letter after a lower-case
			// one, or before a lower-case one (MACVerify: mac-verify).
			if i > 0 && (isLower(s[i-1]) || i+1 < len(s) && isLower(s[i+1]) && isUpper(s[i-1])) {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		if r == '_' {
			r = '-'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// ParseOps reads a list of operation names.
func ParseOps(names []string) (OpSet, error) {
	var s OpSet
	for _, n := range names {
		op, err := ParseOp(n)
		if err != nil {
			return s, err
		}
		s.Add(op)
	}
	return s, nil
}
