package conformance

import (
	"fmt"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// ordered compares two structures whose items come in a fixed order. An
// actual item for which extraOK holds may appear where the expected
// structure has none; an expected item for which missingOK holds may be
// absent. 1.x Attribute items (and any attribute container's items) are
// compared as a multiset with extras allowed.
func (c *comparer) ordered(path string, e, a *Node, extraOK, missingOK func(*Node) bool) *Mismatch {
	if extraOK == nil {
		extraOK = func(*Node) bool { return false }
	}
	if missingOK == nil {
		missingOK = func(*Node) bool { return false }
	}
	var E, A, EA, AA []*Node
	for _, k := range e.Children {
		if k.Tag == ttlv.TagAttribute {
			EA = append(EA, k)
		} else {
			E = append(E, k)
		}
	}
	for _, k := range a.Children {
		if k.Tag == ttlv.TagAttribute {
			AA = append(AA, k)
		} else {
			A = append(A, k)
		}
	}
	i, j := 0, 0
	for i < len(E) || j < len(A) {
		if i < len(E) && j < len(A) && E[i].Tag == A[j].Tag {
			if m := c.node(childPath(path, e, E[i]), E[i], A[j], e, a); m != nil {
				return m
			}
			i++
			j++
			continue
		}
		if j < len(A) && (extraOK(A[j]) || c.extraOK(A[j])) {
			j++
			continue
		}
		if i < len(E) && (missingOK(E[i]) || c.missingOK(E[i])) {
			i++
			continue
		}
		if i < len(E) && (j == len(A) || !hasTag(A[j:], E[i].Tag)) {
			return c.mismatch(childPath(path, e, E[i]), "missing", E[i], nil, e, a)
		}
		return c.mismatch(childPath(path, a, A[j]), "unexpected element", nil, A[j], e, a)
	}
	return c.multiset(path, e, a, EA, AA, func(*Node) bool { return true }, nil)
}

// extraOK: items any structure may have beyond the expected ones.
func (c *comparer) extraOK(n *Node) bool {
	switch {
	case attributeContainers[n.Tag]:
		// Attributes the server set implicitly (1.x Create's Template
		// Attribute): additional attributes, PROF21 §4.1.1.
		return true
	case n.Tag == ttlv.TagLocatedItems && c.op == kmip.OperationLocate:
		return true
	case n.Tag == ttlv.TagAttributeIndex:
		return n.Value == "0"
	}
	return false
}

// missingOK: expected items that may be absent.
func (c *comparer) missingOK(n *Node) bool {
	return n.Tag == ttlv.TagAttributeIndex && n.Value == "0"
}

func hasTag(ns []*Node, t ttlv.Tag) bool {
	for _, n := range ns {
		if n.Tag == t {
			return true
		}
	}
	return false
}

// childPath names k, a child of parent.
func childPath(path string, parent, k *Node) string {
	n, idx := 0, 0
	for _, x := range parent.Children {
		if x == k {
			idx = n
		}
		if x.Tag == k.Tag {
			n++
		}
	}
	if n > 1 || k.Tag == ttlv.TagBatchItem {
		return fmt.Sprintf("%s/%s[%d]", path, k.Name, idx)
	}
	return path + "/" + k.Name
}

// multiset matches every expected item in E with a distinct actual item in
// A that compares equal, whatever the order. Actual items left over must
// satisfy extraOK; expected items without a match may be skipped if
// missingOK holds.
func (c *comparer) multiset(path string, e, a *Node, E, A []*Node, extraOK, missingOK func(*Node) bool) *Mismatch {
	used := make([]bool, len(A))
	for _, x := range E {
		xpath := childPath(path, e, x)
		found := false
		var first *Node
		for j, y := range A {
			if used[j] || !sameKind(x, y) {
				continue
			}
			if first == nil {
				first = y
			}
			saved := c.s.save()
			if c.node(xpath, x, y, e, a) == nil {
				used[j], found = true, true
				break
			}
			c.s.restore(saved)
		}
		if found {
			continue
		}
		if missingOK != nil && missingOK(x) {
			continue
		}
		if candidates(A, used, x) != 1 {
			reason := "missing"
			if n := x.Child(ttlv.TagAttributeName); n != nil && x.Tag == ttlv.TagAttribute {
				reason = fmt.Sprintf("missing attribute %q", n.Value)
			}
			return c.mismatch(xpath, reason, x, nil, e, a)
		}
		// Report how the only candidate differs.
		saved := c.s.save()
		m := c.node(xpath, x, first, e, a)
		c.s.restore(saved)
		return m
	}
	for j, y := range A {
		if !used[j] && !extraOK(y) {
			return c.mismatch(childPath(path, a, y), "unexpected element", nil, y, e, a)
		}
	}
	return nil
}

// candidates counts the unused items of A that could match x.
func candidates(A []*Node, used []bool, x *Node) int {
	n := 0
	for j, y := range A {
		if !used[j] && sameKind(x, y) {
			n++
		}
	}
	return n
}

// sameKind reports whether y is a candidate for expected item x in a
// multiset: the same tag and, for a 1.x or vendor Attribute, the same
// Attribute Name and Vendor Identification.
func sameKind(x, y *Node) bool {
	if x.Tag != y.Tag {
		return false
	}
	if x.Tag == ttlv.TagAttribute {
		for _, t := range []ttlv.Tag{ttlv.TagAttributeName, ttlv.TagVendorIdentification} {
			xn, yn := x.Child(t), y.Child(t)
			if (xn == nil) != (yn == nil) || xn != nil && xn.Value != yn.Value {
				return false
			}
		}
	}
	return true
}

// node compares two items with the same tag; pe and pa are their parents.
func (c *comparer) node(path string, e, a, pe, pa *Node) *Mismatch {
	if e.Type != a.Type {
		return c.mismatch(path, fmt.Sprintf("type %s, expected %s", a.Type, e.Type), e, a, pe, pa)
	}
	if e.Type != ttlv.TypeStructure {
		return c.scalar(path, e, a, pe, pa)
	}
	switch {
	case e.Tag == ttlv.TagRandomNumberGenerator, e.Tag == ttlv.TagServerInformation:
		// PROF21 §4.1.1: the Random Number Generator may take any value and
		// its optional fields may vary; Server Information contents may
		// vary, but the structure must be present.
		return nil
	case e.Tag == ttlv.TagAttributeValue && isRNGAttribute(pe):
		return nil
	case e.Tag == ttlv.TagKeyMaterial && c.freeKey:
		return nil
	case attributeContainers[e.Tag]:
		return c.multiset(path, e, a, e.Children, a.Children, func(*Node) bool { return true }, nil)
	case e.Tag == ttlv.TagResponsePayload:
		return c.payload(path, e, a)
	}
	return c.ordered(path, e, a, nil, nil)
}

func isRNGAttribute(attr *Node) bool {
	return attributeValueTag(attr) == ttlv.TagRandomNumberGenerator
}

// payload compares a Response Payload, with the variations that depend on
// the operation.
func (c *comparer) payload(path string, e, a *Node) *Mismatch {
	var reqPayload *Node
	if c.req != nil {
		reqPayload = c.req.Child(ttlv.TagRequestPayload)
	}
	switch c.op {
	case kmip.OperationQuery:
		// Object Types and Operations beyond the required ones,
		// Application Namespaces and Extension Information may vary
		// (PROF21 §4.1.1).
		varying := tagSet(ttlv.TagOperation, ttlv.TagObjectType, ttlv.TagApplicationNamespace, ttlv.TagExtensionInformation)
		optional := tagSet(ttlv.TagApplicationNamespace, ttlv.TagExtensionInformation)
		reqOps, reqObjs := queryRequired(c.s.file)
		return c.multiset(path, e, a, e.Children, a.Children,
			func(n *Node) bool { return varying[n.Tag] },
			func(n *Node) bool {
				if optional[n.Tag] {
					return true
				}
				if reqOps == nil {
					return false
				}
				switch n.Tag {
				case ttlv.TagOperation:
					v, ok := ttlv.EnumValue(ttlv.TagOperation, n.Value)
					return ok && !reqOps[kmip.Operation(v)]
				case ttlv.TagObjectType:
					v, ok := ttlv.EnumValue(ttlv.TagObjectType, n.Value)
					return ok && !reqObjs[kmip.ObjectType(v)]
				}
				return false
			})
	case kmip.OperationDiscoverVersions:
		if reqPayload.Child(ttlv.TagProtocolVersion) == nil {
			return c.subsequence(path, e, a)
		}
	case kmip.OperationGetAttributeList:
		// Additional attributes (PROF21 §4.1.1): the list may name more.
		names := tagSet(ttlv.TagAttributeReference, ttlv.TagAttributeName)
		var E, A, eo, ao []*Node
		for _, k := range e.Children {
			if names[k.Tag] {
				E = append(E, k)
			} else {
				eo = append(eo, k)
			}
		}
		for _, k := range a.Children {
			if names[k.Tag] {
				A = append(A, k)
			} else {
				ao = append(ao, k)
			}
		}
		if m := c.ordered(path, &Node{Name: e.Name, Tag: e.Tag, Children: eo}, &Node{Name: a.Name, Tag: a.Tag, Children: ao}, nil, nil); m != nil {
			m.ExpectedTree, m.ActualTree = e, a
			return m
		}
		return c.multiset(path, e, a, E, A, func(n *Node) bool { return names[n.Tag] }, nil)
	}
	return c.ordered(path, e, a, nil, nil)
}

// subsequence checks that the expected items appear in the actual
// structure in the same order, with extra items allowed between them
// (Discover Versions without a client list may name extra versions, PROF21
// §4.1.1).
func (c *comparer) subsequence(path string, e, a *Node) *Mismatch {
	j := 0
	for _, x := range e.Children {
		found := false
		for ; j < len(a.Children); j++ {
			y := a.Children[j]
			if y.Tag != x.Tag {
				continue
			}
			saved := c.s.save()
			if c.node(childPath(path, e, x), x, y, e, a) == nil {
				found = true
				j++
				break
			}
			c.s.restore(saved)
		}
		if !found {
			return c.mismatch(childPath(path, e, x), "missing", x, nil, e, a)
		}
	}
	return nil
}
