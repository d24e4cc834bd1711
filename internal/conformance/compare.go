package conformance

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Mismatch is the first difference between an expected and an actual
// response.
type Mismatch struct {
	// Path names the differing element from the message down, e.g.
	// ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier. An
	// index follows a name that occurs more than once among its siblings
	// (and always follows BatchItem).
	Path string
	// Reason says what differs.
	Reason string
	// Expected and Actual are the differing elements, "(absent)" for a
	// missing one.
	Expected, Actual string
	// ExpectedTree and ActualTree are the structures that hold the
	// difference, for showing side by side.
	ExpectedTree, ActualTree *Node
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("%s: %s (expected %s, got %s)", m.Path, m.Reason, oneLine(m.Expected), oneLine(m.Actual))
}

// quoteValue quotes a value for a message, shortening long ones.
func quoteValue(s string) string {
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// Leniencies the comparison grants (each is listed, with its reference, in
// the package documentation). The sets below are the tags they concern.
var (
	// Identifiers are variable items (PROF21 §4.1.1): a literal value in
	// the expected response matches any value of the type.
	// A literal Short Unique Identifier is the hash of the vector author's
	// Unique Identifier (KMIP 2.0 §4.49), so it is as variable as that
	// identifier (TC-IMPEXP-3-20); $SHORT_UNIQUE_IDENTIFIER_n still binds.
	identifierTags = tagSet(ttlv.TagUniqueIdentifier, ttlv.TagPrivateKeyUniqueIdentifier,
		ttlv.TagPublicKeyUniqueIdentifier, ttlv.TagLinkedObjectIdentifier, ttlv.TagShortUniqueIdentifier)

	// Date-time attributes that are variable unless the request fixed
	// them (PROF21 §4.1.1).
	variableDateTags = tagSet(ttlv.TagActivationDate, ttlv.TagArchiveDate, ttlv.TagCompromiseDate,
		ttlv.TagCompromiseOccurrenceDate, ttlv.TagDeactivationDate, ttlv.TagDestroyDate,
		ttlv.TagInitialDate, ttlv.TagLastChangeDate, ttlv.TagProcessStartDate, ttlv.TagProtectStopDate,
		ttlv.TagValidityDate, ttlv.TagOriginalCreationDate)

	// Structures whose items are attributes: compared as multisets, with
	// extra attributes allowed (PROF21 §4.1.1 "additional attributes").
	attributeContainers = tagSet(ttlv.TagAttributes, ttlv.TagCommonAttributes,
		ttlv.TagPrivateKeyAttributes, ttlv.TagPublicKeyAttributes, ttlv.TagTemplateAttribute,
		ttlv.TagCommonTemplateAttribute, ttlv.TagPrivateKeyTemplateAttribute,
		ttlv.TagPublicKeyTemplateAttribute)

	// Server output captured from the response (a placeholder in the
	// expected response matches any value and binds it); a request that
	// names one before any response bound it gets the value the server
	// last returned for the same tag.
	capturedTags = tagSet(ttlv.TagData, ttlv.TagIVCounterNonce, ttlv.TagMACData, ttlv.TagSignatureData,
		ttlv.TagAuthenticatedEncryptionTag, ttlv.TagKeyMaterial, ttlv.TagKeyValue, ttlv.TagTicketValue,
		ttlv.TagCorrelationValue)

	// Operations whose lifecycle violations KMIP 2.0 profile files report as
	// Permission Denied and 2.1 files (and the 2.0 specification's error
	// tables) as Wrong Key Lifecycle State.
	lifecycleOps = map[kmip.Operation]bool{
		kmip.OperationActivate: true, kmip.OperationDestroy: true, kmip.OperationRevoke: true,
		kmip.OperationEncrypt: true, kmip.OperationDecrypt: true, kmip.OperationSign: true,
		kmip.OperationSignatureVerify: true, kmip.OperationMAC: true, kmip.OperationMACVerify: true,
		kmip.OperationDeriveKey: true, kmip.OperationModifyAttribute: true,
	}

	// Operations that make the server generate the object's key material.
	generatingOps = map[kmip.Operation]bool{
		kmip.OperationCreate: true, kmip.OperationCreateKeyPair: true, kmip.OperationReKey: true,
		kmip.OperationReKeyKeyPair: true, kmip.OperationCertify: true, kmip.OperationReCertify: true,
		kmip.OperationCreateSplitKey: true,
	}

	// Operations whose response names a new object.
	objectOps = map[kmip.Operation]bool{
		kmip.OperationRegister: true, kmip.OperationImport: true, kmip.OperationDeriveKey: true,
		kmip.OperationJoinSplitKey: true,
	}
)

func tagSet(tags ...ttlv.Tag) map[ttlv.Tag]bool {
	m := make(map[ttlv.Tag]bool, len(tags))
	for _, t := range tags {
		m[t] = true
	}
	return m
}

// nowTolerance bounds how far a $NOW in an expected response may be from
// the runner's clock, where the item is not variable anyway.
const nowTolerance = time.Hour

// comparer compares one expected response with the actual one. Its fields
// below s describe the batch item being compared.
type comparer struct {
	s   *fileState
	ver kmip.Version // protocol version the file runs under

	op         kmip.Operation
	req        *Node // the request's batch item, placeholders unsubstituted; may be nil
	obj        string
	genObj     bool // obj's key material was generated by the server
	freeCrypto bool // this item's cryptographic output is inherently variable
	freeKey    bool // the key material in this payload is variable
}

func (c *comparer) mismatch(path, reason string, e, a, pe, pa *Node) *Mismatch {
	if e != nil && a != nil && e.Type != ttlv.TypeStructure && a.Type != ttlv.TypeStructure {
		reason += fmt.Sprintf(": expected %s, got %s", quoteValue(e.Value), quoteValue(a.Value))
	}
	m := &Mismatch{Path: path, Reason: reason, Expected: "(absent)", Actual: "(absent)", ExpectedTree: pe, ActualTree: pa}
	if e != nil {
		m.Expected = e.String()
	}
	if a != nil {
		m.Actual = a.String()
	}
	if pe == nil {
		m.ExpectedTree = e
	}
	if pa == nil {
		m.ActualTree = a
	}
	return m
}

// response compares a whole response message. req is the request as the
// file writes it.
func (c *comparer) response(exp, act, req *Node) *Mismatch {
	const path = "ResponseMessage"
	if act.Tag != ttlv.TagResponseMessage {
		return c.mismatch(path, "not a Response Message", exp, act, nil, nil)
	}
	eh, ah := exp.Child(ttlv.TagResponseHeader), act.Child(ttlv.TagResponseHeader)
	if ah == nil {
		return c.mismatch(path+"/ResponseHeader", "missing", eh, nil, exp, act)
	}
	// The Batch Count is checked after the items, so that a batch that
	// stopped early is reported at the item that made it stop.
	if m := c.header(path+"/ResponseHeader", without(eh, ttlv.TagBatchCount), without(ah, ttlv.TagBatchCount)); m != nil {
		m.ExpectedTree, m.ActualTree = eh, ah
		return m
	}
	for _, k := range act.Children {
		if k.Tag != ttlv.TagResponseHeader && k.Tag != ttlv.TagBatchItem {
			return c.mismatch(path+"/"+k.Name, "unexpected element", nil, k, exp, act)
		}
	}
	eItems, aItems := exp.All(ttlv.TagBatchItem), act.All(ttlv.TagBatchItem)
	rItems := req.All(ttlv.TagBatchItem)
	byID := true
	for _, e := range eItems {
		if e.Child(ttlv.TagUniqueBatchItemID) == nil {
			byID = false
		}
	}
	used := make([]bool, len(aItems))
	for i, e := range eItems {
		ipath := fmt.Sprintf("%s/BatchItem[%d]", path, i)
		var a *Node
		r := itemAt(rItems, i, nil)
		if byID {
			id := e.Child(ttlv.TagUniqueBatchItemID)
			for j, x := range aItems {
				if xid := x.Child(ttlv.TagUniqueBatchItemID); !used[j] && xid != nil && sameBytes(id.Value, xid.Value) {
					a, used[j] = x, true
					break
				}
			}
			if a == nil {
				return c.mismatch(ipath, "no batch item with this Unique Batch Item ID", e, nil, exp, act)
			}
			r = itemAt(rItems, i, id)
		} else if i < len(aItems) {
			a = aItems[i]
		} else {
			return c.mismatch(ipath, "missing", e, nil, exp, act)
		}
		if m := c.item(ipath, e, a, r); m != nil {
			return m
		}
	}
	if len(aItems) > len(eItems) {
		for j, x := range aItems {
			if !used[j] && (byID || j >= len(eItems)) {
				return c.mismatch(childPath(path, act, x), "unexpected batch item", nil, x, exp, act)
			}
		}
	}
	ebc, abc := eh.Child(ttlv.TagBatchCount), ah.Child(ttlv.TagBatchCount)
	switch {
	case ebc == nil && abc == nil:
		return nil
	case ebc == nil || abc == nil:
		return c.mismatch(path+"/ResponseHeader/BatchCount", "missing", ebc, abc, eh, ah)
	}
	return c.node(path+"/ResponseHeader/BatchCount", ebc, abc, eh, ah)
}

// without returns a shallow copy of n without its children tagged t.
func without(n *Node, t ttlv.Tag) *Node {
	c := *n
	c.Children = nil
	for _, k := range n.Children {
		if k.Tag != t {
			c.Children = append(c.Children, k)
		}
	}
	return &c
}

// itemAt returns the request batch item with Unique Batch Item ID id, or
// the i-th one.
func itemAt(items []*Node, i int, id *Node) *Node {
	if id != nil {
		for _, r := range items {
			if rid := r.Child(ttlv.TagUniqueBatchItemID); rid != nil && sameBytes(rid.Value, id.Value) {
				return r
			}
		}
	}
	if i < len(items) {
		return items[i]
	}
	return nil
}

func sameBytes(a, b string) bool {
	x, err1 := canonical(0, ttlv.TypeByteString, a)
	y, err2 := canonical(0, ttlv.TypeByteString, b)
	return err1 == nil && err2 == nil && x == y
}

// header compares the Response Header: Protocol Version and Batch Count
// exactly; Time Stamp and the correlation values are free.
func (c *comparer) header(path string, e, a *Node) *Mismatch {
	free := func(n *Node) bool {
		switch n.Tag {
		case ttlv.TagTimeStamp, ttlv.TagClientCorrelationValue, ttlv.TagServerCorrelationValue:
			return true
		}
		return false
	}
	return c.ordered(path, e, a, free, free)
}

// item compares one response batch item.
func (c *comparer) item(path string, e, a, req *Node) *Mismatch {
	c.op = 0
	if op := e.Child(ttlv.TagOperation); op != nil {
		if v, err := canonical(ttlv.TagOperation, ttlv.TypeEnumeration, op.Value); err == nil {
			x, _ := strconv.ParseUint(v, 10, 32)
			c.op = kmip.Operation(x)
		}
	}
	c.req = req
	c.setContext(e, a)
	extra := func(n *Node) bool {
		switch n.Tag {
		case ttlv.TagResultMessage:
			return true
		case ttlv.TagMessageExtension:
			crit := n.Child(ttlv.TagCriticalityIndicator)
			return crit != nil && crit.Value == "false"
		}
		return false
	}
	missing := func(n *Node) bool { return n.Tag == ttlv.TagResultMessage }
	return c.ordered(path, e, a, extra, missing)
}

// setContext works out what the batch item is about: the object its
// payload concerns, and whether its cryptographic output and key material
// are variable.
func (c *comparer) setContext(e, a *Node) {
	var reqPayload *Node
	if c.req != nil {
		reqPayload = c.req.Child(ttlv.TagRequestPayload)
	}
	ep := e.Child(ttlv.TagResponsePayload)
	c.obj = ""
	for _, n := range []*Node{ep.Child(ttlv.TagUniqueIdentifier), reqPayload.Child(ttlv.TagUniqueIdentifier)} {
		if n != nil && strings.HasPrefix(n.Value, "$") {
			c.obj = n.Value
			break
		}
	}
	objs := c.s.itemObjects(e, c.req)
	if c.obj == "" && len(objs) > 0 {
		c.obj = objs[0]
	}
	key := c.s.object(c.obj)
	if n := reqPayload.Child(ttlv.TagUniqueIdentifier); n != nil && strings.HasPrefix(n.Value, "$") {
		key = c.s.object(n.Value)
	}
	c.genObj = c.s.object(c.obj).generated || generatingOps[c.op]
	c.freeCrypto, c.freeKey = false, c.genObj
	switch c.op {
	case kmip.OperationEncrypt:
		// Randomised padding (RSA) or an IV the server chose makes the
		// ciphertext variable.
		serverIV := reqPayload.Child(ttlv.TagIVCounterNonce) == nil &&
			(ep.Child(ttlv.TagIVCounterNonce) != nil || a.Path(ttlv.TagResponsePayload, ttlv.TagIVCounterNonce) != nil)
		c.freeCrypto = key.generated || key.asymmetric() || serverIV
	case kmip.OperationSign:
		c.freeCrypto = key.generated || key.randomSignature() || randomSignature(reqPayload)
	case kmip.OperationMAC:
		c.freeCrypto = key.generated
	case kmip.OperationDecrypt:
		// The data a server-generated key decrypts to is as variable as
		// the key (CS-BC-M-2/3 decrypt the OASIS ciphertext with a key
		// the server created).
		c.freeCrypto = key.generated
	case kmip.OperationRNGRetrieve:
		c.freeCrypto = true
	case kmip.OperationGet, kmip.OperationExport:
		// A wrapped key is variable when its wrapping key is.
		if ws := reqPayload.Child(ttlv.TagKeyWrappingSpecification); ws != nil {
			for _, ki := range []ttlv.Tag{ttlv.TagEncryptionKeyInformation, ttlv.TagMACSignatureKeyInformation} {
				if id := ws.Path(ki, ttlv.TagUniqueIdentifier); id != nil {
					w := c.s.object(id.Value)
					if w.generated || w.asymmetric() {
						c.freeKey = true
					}
				}
			}
		}
	}
}

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

// objInfo is what the runner knows of an object a placeholder names.
type objInfo struct {
	generated bool  // the server generated its key material
	def       *Node // the request batch item that created or registered it
}

// asymmetric reports whether the object's algorithm makes encryption with
// it randomised (RSA padding and the like).
func (o objInfo) asymmetric() bool {
	if o.def == nil {
		return false
	}
	alg := findEnum(o.def, ttlv.TagCryptographicAlgorithm)
	switch alg {
	case "RSA", "DSA", "ECDSA", "EC", "ECDH", "ECMQV", "DH":
		return true
	}
	return false
}

// randomSignature reports whether signatures with the object are
// randomised (DSA, ECDSA, RSA-PSS).
func (o objInfo) randomSignature() bool {
	if o.def == nil {
		return false
	}
	switch findEnum(o.def, ttlv.TagCryptographicAlgorithm) {
	case "DSA", "ECDSA", "EC":
		return true
	}
	return randomSignature(o.def)
}

// randomSignature reports whether a subtree asks for a randomised
// signature scheme.
func randomSignature(n *Node) bool {
	if n == nil {
		return false
	}
	if findEnum(n, ttlv.TagPaddingMethod) == "PSS" {
		return true
	}
	dsa := findEnum(n, ttlv.TagDigitalSignatureAlgorithm)
	return strings.Contains(dsa, "DSA") || strings.Contains(dsa, "PSS")
}

// findEnum returns the name of the first value for the tag in the subtree
// (a 2.x item or a 1.x Attribute named after it), or "".
func findEnum(n *Node, tag ttlv.Tag) string {
	out := ""
	n.walk(func(x *Node) {
		if out != "" || x.Type != ttlv.TypeEnumeration {
			return
		}
		if x.Tag == tag {
			out = enumName(tag, x.Value)
		}
	})
	if out != "" {
		return out
	}
	n.walk(func(x *Node) {
		if out == "" && attributeValueTag(x) == tag {
			if v := x.Child(ttlv.TagAttributeValue); v != nil && v.Type == ttlv.TypeEnumeration {
				out = enumName(tag, v.Value)
			}
		}
	})
	return out
}

func enumName(tag ttlv.Tag, s string) string {
	v, err := canonical(tag, ttlv.TypeEnumeration, s)
	if err != nil {
		return s
	}
	x, _ := strconv.ParseUint(v, 10, 32)
	if name, ok := ttlv.EnumName(tag, uint32(x)); ok {
		return name
	}
	return s
}

// fileState is what the runner learns while replaying one file.
type fileState struct {
	bindings  map[string]string // placeholder → value text, as the server returned it
	lastByTag map[ttlv.Tag]string
	objects   map[string]objInfo
	dates     map[string]map[ttlv.Tag][]int64 // object placeholder → date-times a request set
	nows      map[string]string               // $NOW±n → the value sent
	start     time.Time
	clock     func() time.Time
	known     *knownObjects
	file      string // the test-case file, for what its profile requires
}

func newFileState(clock func() time.Time, known *knownObjects) *fileState {
	if clock == nil {
		clock = time.Now
	}
	if known == nil {
		known = newKnownObjects()
	}
	return &fileState{
		known:     known,
		bindings:  make(map[string]string),
		lastByTag: make(map[ttlv.Tag]string),
		objects:   make(map[string]objInfo),
		dates:     make(map[string]map[ttlv.Tag][]int64),
		nows:      make(map[string]string),
		start:     clock(),
		clock:     clock,
	}
}

func (s *fileState) now() time.Time { return s.clock() }

func (s *fileState) save() map[string]string { return maps.Clone(s.bindings) }

func (s *fileState) restore(b map[string]string) { s.bindings = b }

func (s *fileState) bind(name, value string) { s.bindings[name] = value }

func (s *fileState) bound(name string) (string, bool) {
	v, ok := s.bindings[name]
	return v, ok
}

// fixedDates returns the date-times requests set for the tag of the object
// a placeholder names.
func (s *fileState) fixedDates(obj string, tag ttlv.Tag) []int64 {
	if d, ok := s.dates[obj]; ok {
		return d[tag]
	}
	return s.known.dates[s.bindings[obj]][tag]
}

// object returns what is known of the object a placeholder names.
func (s *fileState) object(name string) objInfo {
	if o, ok := s.objects[name]; ok {
		return o
	}
	return s.known.objects[s.bindings[name]]
}

// knownObjects is what the runner learned about objects, by their actual
// identifiers: it outlives a file's placeholders, for the file that
// continues it (see Continuation).
type knownObjects struct {
	objects map[string]objInfo
	dates   map[string]map[ttlv.Tag][]int64
}

func newKnownObjects() *knownObjects {
	return &knownObjects{objects: make(map[string]objInfo), dates: make(map[string]map[ttlv.Tag][]int64)}
}

// settle records, by actual identifier, what is known of the objects whose
// placeholders are bound.
func (s *fileState) settle() {
	for name, o := range s.objects {
		if v, ok := s.bindings[name]; ok {
			s.known.objects[v] = o
		}
	}
	for name, d := range s.dates {
		if v, ok := s.bindings[name]; ok {
			s.known.dates[v] = d
		}
	}
}

// itemObjects returns the object placeholders a response batch item (as
// expected) names in its payload: Unique Identifier, Private and Public Key
// Unique Identifier.
func (s *fileState) itemObjects(e, req *Node) []string {
	var out []string
	p := e.Child(ttlv.TagResponsePayload)
	for _, t := range []ttlv.Tag{ttlv.TagUniqueIdentifier, ttlv.TagPrivateKeyUniqueIdentifier, ttlv.TagPublicKeyUniqueIdentifier} {
		for _, n := range p.All(t) {
			if strings.HasPrefix(n.Value, "$") {
				out = append(out, n.Value)
			}
		}
	}
	if req != nil {
		if n := req.Path(ttlv.TagRequestPayload, ttlv.TagUniqueIdentifier); n != nil && strings.HasPrefix(n.Value, "$") {
			out = append(out, n.Value)
		}
	}
	return out
}

// SideBySide lays out two texts in columns headed by their titles: the
// left column width characters wide (longer lines are cut with "…"), a
// marker between the columns where the lines differ.
func SideBySide(leftTitle, left, rightTitle, right string, width int) string {
	l, r := strings.Split(left, "\n"), strings.Split(right, "\n")
	cut := func(s string) string {
		if n := len([]rune(s)); n > width {
			return string([]rune(s)[:width-1]) + "…"
		}
		return s
	}
	pad := func(s string) string {
		return s + strings.Repeat(" ", max(0, width-len([]rune(s))))
	}
	var b strings.Builder
	b.WriteString(pad(leftTitle) + "   " + rightTitle + "\n")
	for i := range max(len(l), len(r)) {
		var x, y string
		if i < len(l) {
			x = l[i]
		}
		if i < len(r) {
			y = r[i]
		}
		mark := " | "
		if strings.TrimSpace(x) != strings.TrimSpace(y) {
			mark = " ! "
		}
		b.WriteString(strings.TrimRight(pad(cut(x))+mark+cut(y), " "))
		if i < max(len(l), len(r))-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
