package conformance

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// scalar compares two non-structure items of the same type.
func (c *comparer) scalar(path string, e, a, pe, pa *Node) *Mismatch {
	names := e.Tag
	semantic := e.Tag // the attribute a 1.x Attribute Value holds
	if e.Tag == ttlv.TagAttributeValue {
		if t := attributeValueTag(pe); t != 0 {
			names, semantic = t, t
		}
	}
	fail := func(reason string) *Mismatch { return c.mismatch(path, reason, e, a, pe, pa) }
	if _, err := canonical(names, a.Type, a.Value); err != nil {
		return fail("bad value: " + err.Error())
	}
	if strings.HasPrefix(e.Value, "$") {
		return c.placeholder(e, a, semantic, names, fail)
	}
	if c.freeValue(e, a, semantic, pe) {
		return nil
	}
	want, err := canonical(names, e.Type, e.Value)
	if err != nil {
		return fail("expected value unreadable: " + err.Error())
	}
	got, _ := canonical(names, a.Type, a.Value)
	if want == got {
		return nil
	}
	if e.Tag == ttlv.TagResultReason && c.lifecycleTolerance(want, got) {
		return nil
	}
	return fail("value differs")
}

// freeValue reports whether the expected literal value of e is a variable
// item, so any actual value of the type matches.
func (c *comparer) freeValue(e, a *Node, semantic ttlv.Tag, parent *Node) bool {
	switch {
	case identifierTags[e.Tag]:
		return true
	case e.Tag == ttlv.TagAsynchronousCorrelationValue, e.Tag == ttlv.TagResultMessage,
		e.Tag == ttlv.TagTimeStamp, e.Tag == ttlv.TagClientCorrelationValue, e.Tag == ttlv.TagServerCorrelationValue:
		return true
	case e.Tag == ttlv.TagVendorIdentification && c.op == kmip.OperationQuery && parent != nil && parent.Tag == ttlv.TagResponsePayload:
		return true
	case e.Tag == ttlv.TagPKCS_11OutputParameters && parent != nil && isGetInfo(parent.Child(ttlv.TagPKCS_11Function)):
		return sameCKInfoShape(e.Value, a.Value)
	case e.Type == ttlv.TypeDateTime && variableDateTags[semantic]:
		return len(c.s.fixedDates(c.obj, semantic)) == 0
	case e.Tag == ttlv.TagDigestValue:
		return c.genObj
	case c.freeKey && (e.Tag == ttlv.TagKeyMaterial || e.Tag == ttlv.TagKeyValue || e.Tag == ttlv.TagCertificateValue):
		return true
	case c.freeCrypto:
		switch e.Tag {
		case ttlv.TagIVCounterNonce, ttlv.TagAuthenticatedEncryptionTag, ttlv.TagSignatureData, ttlv.TagMACData:
			return true
		case ttlv.TagData:
			if c.op == kmip.OperationRNGRetrieve {
				return len(e.Value) == len(a.Value)
			}
			return true
		}
	}
	return false
}

// lifecycleTolerance: under KMIP 2.0, Permission Denied and Wrong Key
// Lifecycle State are both accepted for a lifecycle violation (the 2.0
// profile files expect the former, the 2.0 specification's error tables
// the latter).
func (c *comparer) lifecycleTolerance(want, got string) bool {
	if c.ver != kmip.V2_0 || !lifecycleOps[c.op] {
		return false
	}
	pd := strconv.FormatUint(uint64(kmip.ResultReasonPermissionDenied), 10)
	wk := strconv.FormatUint(uint64(kmip.ResultReasonWrongKeyLifecycleState), 10)
	ok := func(s string) bool { return s == pd || s == wk }
	return ok(want) && ok(got)
}

// placeholder handles an expected value that is a placeholder.
func (c *comparer) placeholder(e, a *Node, semantic, names ttlv.Tag, fail func(string) *Mismatch) *Mismatch {
	name := e.Value
	if off, ok := nowOffset(name); ok {
		if e.Type != ttlv.TypeDateTime {
			return fail(name + " in a " + e.Type.String())
		}
		got, _ := parseDateTime(a.Value)
		if variableDateTags[semantic] {
			fixed := c.s.fixedDates(c.obj, semantic)
			if len(fixed) == 0 {
				return nil
			}
			for _, f := range fixed {
				if f == got {
					return nil
				}
			}
			return fail("differs from the date-time the request set")
		}
		if e.Tag == ttlv.TagTimeStamp {
			return nil
		}
		want := c.s.now().Add(time.Duration(off) * time.Second).Unix()
		if d := time.Duration(got-want) * time.Second; d > nowTolerance || d < -nowTolerance {
			return fail(fmt.Sprintf("not near %s (off by %s)", name, d))
		}
		return nil
	}
	if capturedPlaceholder(name) {
		c.s.bind(name, a.Value)
		return nil
	}
	if v, ok := c.s.bound(name); ok {
		want, _ := canonical(names, a.Type, v)
		got, _ := canonical(names, a.Type, a.Value)
		if want != got {
			return fail(fmt.Sprintf("differs from %s bound earlier to %q", name, v))
		}
		return nil
	}
	c.s.bind(name, a.Value)
	return nil
}

// capturedPlaceholder reports whether the placeholder stands for server
// output that the runner captures afresh every time it appears in a
// response, rather than an identifier bound once.
func capturedPlaceholder(name string) bool {
	base := strings.TrimLeft(name, "$")
	if i := strings.LastIndexByte(base, '_'); i > 0 {
		if _, err := strconv.Atoi(base[i+1:]); err == nil {
			base = base[:i]
		}
	}
	switch base {
	case "DATA", "IV_COUNTER_NONCE", "MAC_DATA", "SIGNATURE_DATA", "AUTHENTICATED_ENCRYPTION_TAG",
		"KEY_MATERIAL", "KEY_VALUE", "TICKET_VALUE", "CORRELATION_VALUE":
		return true
	}
	return false
}

// nowOffset parses $NOW, $NOW-n and $NOW+n (n in seconds).
func nowOffset(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "$NOW")
	if !ok {
		return 0, false
	}
	if rest == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || rest[0] != '+' && rest[0] != '-' {
		return 0, false
	}
	return n, true
}

// isGetInfo reports whether fn, a PKCS#11 Function item, is C_GetInfo.
func isGetInfo(fn *Node) bool {
	if fn == nil {
		return false
	}
	v, err := canonical(ttlv.TagPKCS_11Function, fn.Type, fn.Value)
	return err == nil && v == "3"
}

// sameCKInfoShape compares two C_GetInfo outputs (a 76-byte CK_INFO, hex)
// as PROF21 §4.1.1 compares Vendor Identification and Server Information:
// the library's manufacturer, description and version describe the
// server's PKCS#11 library and may differ; the Cryptoki version and the
// flags must not.
func sameCKInfoShape(want, got string) bool {
	w, err1 := hex.DecodeString(want)
	g, err2 := hex.DecodeString(got)
	if err1 != nil || err2 != nil || len(w) != 76 || len(g) != 76 {
		return false
	}
	return string(w[:2]) == string(g[:2]) && string(w[34:42]) == string(g[34:42])
}
