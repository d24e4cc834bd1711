package conformance

import (
	"fmt"
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
		case ttlv.TagOperation:
			// A recording that left out the Operation the request item
			// named (TC-LOGIN-3-20): SPEC20 §8.6 requires it in the
			// response, so the server's copy of it is no mismatch.
			ro := req.Child(ttlv.TagOperation)
			return e.Child(ttlv.TagOperation) == nil && ro != nil && ro.Value == n.Value
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
