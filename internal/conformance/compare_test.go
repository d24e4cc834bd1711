package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// The tests below build an expected and an actual response from XML and
// compare them as the runner does.

func header(ver string, count int) string {
	maj, min, _ := strings.Cut(ver, ".")
	return `<ResponseHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="` + maj +
		`"/><ProtocolVersionMinor type="Integer" value="` + min + `"/></ProtocolVersion>` +
		`<TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="` + string(rune('0'+count)) + `"/></ResponseHeader>`
}

func resp(ver string, items ...string) string {
	return "<ResponseMessage>" + header(ver, len(items)) + strings.Join(items, "") + "</ResponseMessage>"
}

func item(op, status, payload string) string {
	s := `<BatchItem><Operation type="Enumeration" value="` + op + `"/><ResultStatus type="Enumeration" value="` + status + `"/>`
	if payload != "" {
		s += "<ResponsePayload>" + payload + "</ResponsePayload>"
	}
	return s + "</BatchItem>"
}

func failed(op, reason, msg string) string {
	s := `<BatchItem><Operation type="Enumeration" value="` + op + `"/><ResultStatus type="Enumeration" value="OperationFailed"/>` +
		`<ResultReason type="Enumeration" value="` + reason + `"/>`
	if msg != "" {
		s += `<ResultMessage type="TextString" value="` + msg + `"/>`
	}
	return s + "</BatchItem>"
}

func req(ver string, items ...string) string {
	maj, min, _ := strings.Cut(ver, ".")
	return `<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="` + maj +
		`"/><ProtocolVersionMinor type="Integer" value="` + min + `"/></ProtocolVersion><BatchCount type="Integer" value="1"/></RequestHeader>` +
		strings.Join(items, "") + "</RequestMessage>"
}

func reqItem(op, payload string) string {
	return `<BatchItem><Operation type="Enumeration" value="` + op + `"/><RequestPayload>` + payload + `</RequestPayload></BatchItem>`
}

// actual turns a response written with the helpers into one a server could
// send: no placeholders in the header.
func actual(s string) string {
	return strings.ReplaceAll(s, `"$NOW"`, `"2030-01-01T00:00:00Z"`)
}

const uid0 = `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>`

func mustNode(t *testing.T, s string) *Node {
	t.Helper()
	n, err := ParseNode([]byte(s))
	if err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return n
}

// compareOnce compares exp with act for the request rq under version ver,
// with the state st (a fresh one if nil).
func compareOnce(t *testing.T, st *fileState, ver kmip.Version, rq, exp, act string) *Mismatch {
	t.Helper()
	if st == nil {
		st = newFileState(nil, nil)
		st.bind("$UNIQUE_IDENTIFIER_0", "x")
	}
	r, e, a := mustNode(t, rq), mustNode(t, exp), mustNode(t, actual(act))
	if _, err := st.prepare(r, e, nil); err != nil {
		t.Fatal(err)
	}
	c := comparer{s: st, ver: ver}
	m := c.response(e, a, r)
	if m == nil {
		st.settle()
	}
	return m
}

func wantPass(t *testing.T, m *Mismatch) {
	t.Helper()
	if m != nil {
		t.Fatalf("unexpected mismatch: %v\nexpected tree:\n%s\nactual tree:\n%s", m, m.ExpectedTree, m.ActualTree)
	}
}

func wantFail(t *testing.T, m *Mismatch, path, reason string) {
	t.Helper()
	if m == nil {
		t.Fatalf("no mismatch; want one at %s", path)
	}
	if m.Path != path || !strings.Contains(m.Reason, reason) {
		t.Fatalf("mismatch %q: %q; want %q: %q", m.Path, m.Reason, path, reason)
	}
}

// Ensure that enumerations compare by value (name, other version's name,
// hex), masks numerically, byte strings case-insensitively.
func TestCompare_ValuesByMeaning(t *testing.T) {
	rq := req("2.1", reqItem("GetAttributes", uid0))
	exp := resp("2.1", item("GetAttributes", "Success", uid0+`<Attributes>
		<CryptographicUsageMask type="Integer" value="Decrypt Encrypt"/>
		<ObjectType type="Enumeration" value="0x00000002"/>
		<Digest><HashingAlgorithm type="Enumeration" value="SHA_256"/><DigestValue type="ByteString" value="ABCDEF"/></Digest>
	</Attributes>`))
	act := resp("2.1", item("GetAttributes", "Success", `<UniqueIdentifier type="TextString" value="x"/><Attributes>
		<CryptographicUsageMask type="Integer" value="12"/>
		<ObjectType type="Enumeration" value="SymmetricKey"/>
		<Digest><HashingAlgorithm type="Enumeration" value="0x00000006"/><DigestValue type="ByteString" value="abcdef"/></Digest>
	</Attributes>`))
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act))

	bad := strings.Replace(act, `value="12"`, `value="4"`, 1)
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, bad),
		"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/CryptographicUsageMask", "value differs")
}

// Ensure that a placeholder binds on first sight and is checked after.
func TestCompare_PlaceholderBindsAndChecks(t *testing.T) {
	st := newFileState(nil, nil)
	rq := req("2.1", reqItem("Register", `<ObjectType type="Enumeration" value="SymmetricKey"/>`))
	exp := resp("2.1", item("Register", "Success", uid0))
	wantPass(t, compareOnce(t, st, kmip.V2_1, rq, exp, resp("2.1", item("Register", "Success", `<UniqueIdentifier type="TextString" value="abc"/>`))))
	if v, _ := st.bound("$UNIQUE_IDENTIFIER_0"); v != "abc" {
		t.Fatalf("bound %q", v)
	}
	// The request side substitutes it.
	out, err := st.substitute(mustNode(t, req("2.1", reqItem("Get", uid0))))
	if err != nil {
		t.Fatal(err)
	}
	if n := out.All(ttlv.TagBatchItem)[0].Path(ttlv.TagRequestPayload, ttlv.TagUniqueIdentifier); n == nil || n.Value != "abc" {
		t.Fatalf("substituted request: %s", out)
	}
	// A later response must return the same identifier.
	rq2 := req("2.1", reqItem("Locate", ""))
	exp2 := resp("2.1", item("Locate", "Success", uid0))
	wantPass(t, compareOnce(t, st, kmip.V2_1, rq2, exp2, resp("2.1", item("Locate", "Success", `<UniqueIdentifier type="TextString" value="abc"/>`))))
	wantFail(t, compareOnce(t, st, kmip.V2_1, rq2, exp2, resp("2.1", item("Locate", "Success", `<UniqueIdentifier type="TextString" value="other"/>`))),
		"ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier", "bound earlier")
}

// Ensure that an unbound placeholder in a request is an error, and that
// RANDOM placeholders are generated.
func TestSubstitute_UnboundAndRandom(t *testing.T) {
	st := newFileState(nil, nil)
	if _, err := st.substitute(mustNode(t, req("2.1", reqItem("Get", uid0)))); err == nil || !strings.Contains(err.Error(), "$UNIQUE_IDENTIFIER_0") {
		t.Fatalf("err = %v", err)
	}
	out, err := st.substitute(mustNode(t, req("2.1", reqItem("Import", `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_RANDOM_0"/>`+
		`<ShortUniqueIdentifier type="ByteString" value="$SHORT_UNIQUE_IDENTIFIER_RANDOM_0"/>`))))
	if err != nil {
		t.Fatal(err)
	}
	p := out.All(ttlv.TagBatchItem)[0].Child(ttlv.TagRequestPayload)
	if id := p.Children[0].Value; len(id) < 32 || strings.HasPrefix(id, "$") {
		t.Fatalf("random id %q", id)
	}
	if suid := p.Children[1].Value; len(suid) != 64 {
		t.Fatalf("random suid %q", suid)
	}
	if _, err := out.TTLV(); err != nil {
		t.Fatal(err)
	}
}

// Ensure that $NOW±n is substituted in requests, the same text getting the
// same value, and that a date-time the request fixed must come back.
func TestCompare_DatesFixedInRequest(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := newFileState(func() time.Time { return now }, nil)
	rq := req("2.1", reqItem("Register", `<ObjectType type="Enumeration" value="SymmetricKey"/><Attributes><ActivationDate type="DateTime" value="$NOW-3600"/></Attributes>`))
	out, err := st.substitute(mustNode(t, rq))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	out.walk(func(n *Node) {
		if n.Name == "ActivationDate" {
			got = n.Value
		}
	})
	if got != "2030-01-02T02:04:05Z" {
		t.Fatalf("$NOW-3600 = %q", got)
	}
	wantPass(t, compareOnce(t, st, kmip.V2_1, rq, resp("2.1", item("Register", "Success", uid0)),
		resp("2.1", item("Register", "Success", `<UniqueIdentifier type="TextString" value="k1"/>`))))

	ga := req("2.1", reqItem("GetAttributes", uid0))
	exp := resp("2.1", item("GetAttributes", "Success", uid0+`<Attributes><ActivationDate type="DateTime" value="$NOW"/><InitialDate type="DateTime" value="2001-01-01T00:00:00Z"/></Attributes>`))
	act := func(activation string) string {
		return resp("2.1", item("GetAttributes", "Success", `<UniqueIdentifier type="TextString" value="k1"/><Attributes>`+
			`<ActivationDate type="DateTime" value="`+activation+`"/><InitialDate type="DateTime" value="2030-01-02T03:04:05Z"/></Attributes>`))
	}
	// Initial Date was not fixed by a request: any value.
	wantPass(t, compareOnce(t, st, kmip.V2_1, ga, exp, act("2030-01-02T02:04:05Z")))
	wantFail(t, compareOnce(t, st, kmip.V2_1, ga, exp, act("2030-01-02T03:04:05Z")),
		"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/ActivationDate", "the request set")
}

// Ensure that attributes are a multiset with extras allowed, and that a
// missing or wrong one is reported at its path.
func TestCompare_AttributesMultiset(t *testing.T) {
	rq := req("2.1", reqItem("GetAttributes", uid0))
	exp := resp("2.1", item("GetAttributes", "Success", uid0+`<Attributes>
		<State type="Enumeration" value="PreActive"/>
		<Name><NameValue type="TextString" value="a"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>
		<Name><NameValue type="TextString" value="b"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>
	</Attributes>`))
	act := func(state, names string) string {
		return resp("2.1", item("GetAttributes", "Success", `<UniqueIdentifier type="TextString" value="x"/><Attributes>`+names+
			`<ObjectGroup type="TextString" value="extra"/><State type="Enumeration" value="`+state+`"/></Attributes>`))
	}
	nm := func(v string) string {
		return `<Name><NameValue type="TextString" value="` + v + `"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`
	}
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act("PreActive", nm("b")+nm("a"))))
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act("Active", nm("a")+nm("b"))),
		"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/State", "value differs")
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act("PreActive", nm("a")+nm("c"))),
		"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/Name[1]/NameValue", "value differs")
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act("PreActive", nm("a"))),
		"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/Name[1]", "missing")
}

// Ensure that 1.x Attribute items are a multiset, that an Attribute
// Value's enumeration is named by the Attribute Name, and that an
// Attribute Index of 0 equals an absent one.
func TestCompare_V1Attributes(t *testing.T) {
	rq := req("1.4", reqItem("GetAttributes", uid0))
	a := func(name, typ, value string) string {
		return `<Attribute><AttributeName type="TextString" value="` + name + `"/><AttributeValue type="` + typ + `" value="` + value + `"/></Attribute>`
	}
	exp := resp("1.4", item("GetAttributes", "Success", uid0+a("State", "Enumeration", "PreActive")+a("Cryptographic Algorithm", "Enumeration", "AES")))
	act := resp("1.4", item("GetAttributes", "Success", `<UniqueIdentifier type="TextString" value="x"/>`+
		`<Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeIndex type="Integer" value="0"/><AttributeValue type="Enumeration" value="0x00000003"/></Attribute>`+
		a("Object Type", "Enumeration", "SymmetricKey")+a("State", "Enumeration", "0x00000001")))
	wantPass(t, compareOnce(t, nil, kmip.V1_4, rq, exp, act))
	bad := strings.Replace(act, `value="0x00000003"`, `value="0x00000001"`, 1)
	wantFail(t, compareOnce(t, nil, kmip.V1_4, rq, exp, bad),
		"ResponseMessage/BatchItem[0]/ResponsePayload/Attribute[1]/AttributeValue", "value differs")
}

// Ensure that the header's Time Stamp and correlation values and an item's
// Result Message are free, while the protocol version is not.
func TestCompare_HeaderAndResultMessage(t *testing.T) {
	rq := req("2.1", reqItem("Destroy", uid0))
	exp := `<ResponseMessage><ResponseHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
		<TimeStamp type="DateTime" value="2019-01-01T00:00:00Z"/><ServerCorrelationValue type="TextString" value="A5E8"/><BatchCount type="Integer" value="1"/></ResponseHeader>` +
		failed("Destroy", "WrongKeyLifecycleState", "DENIED") + `</ResponseMessage>`
	act := `<ResponseMessage><ResponseHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
		<TimeStamp type="DateTime" value="2031-01-01T00:00:00Z"/><ClientCorrelationValue type="TextString" value="x"/><BatchCount type="Integer" value="1"/></ResponseHeader>` +
		failed("Destroy", "WrongKeyLifecycleState", "") + `</ResponseMessage>`
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act))
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, strings.Replace(act, `ProtocolVersionMinor type="Integer" value="1"`, `ProtocolVersionMinor type="Integer" value="0"`, 1)),
		"ResponseMessage/ResponseHeader/ProtocolVersion/ProtocolVersionMinor", "value differs")
}

// Ensure that Permission Denied and Wrong Key Lifecycle State are
// interchangeable under 2.0 for lifecycle operations only.
func TestCompare_LifecycleTolerance(t *testing.T) {
	rq := req("2.0", reqItem("Destroy", uid0))
	exp := resp("2.0", failed("Destroy", "PermissionDenied", "DENIED"))
	act := resp("2.0", failed("Destroy", "WrongKeyLifecycleState", "not now"))
	wantPass(t, compareOnce(t, nil, kmip.V2_0, rq, exp, act))
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, strings.ReplaceAll(exp, `value="0"`, `value="1"`), strings.ReplaceAll(act, `value="0"`, `value="1"`)),
		"ResponseMessage/BatchItem[0]/ResultReason", "value differs")
	// Not for other operations, nor for other reasons.
	rq = req("2.0", reqItem("Interop", ""))
	wantFail(t, compareOnce(t, nil, kmip.V2_0, rq, resp("2.0", failed("Interop", "PermissionDenied", "")), resp("2.0", failed("Interop", "WrongKeyLifecycleState", ""))),
		"ResponseMessage/BatchItem[0]/ResultReason", "value differs")
	rq = req("2.0", reqItem("Destroy", uid0))
	wantFail(t, compareOnce(t, nil, kmip.V2_0, rq, exp, resp("2.0", failed("Destroy", "ObjectNotFound", ""))),
		"ResponseMessage/BatchItem[0]/ResultReason", "value differs")
}

// Ensure that batch items are paired by Unique Batch Item ID, and that a
// batch cut short is reported at the item that stopped it.
func TestCompare_BatchItems(t *testing.T) {
	withID := func(it, id string) string {
		return strings.Replace(it, `"/><`, `"/><UniqueBatchItemID type="ByteString" value="`+id+`"/><`, 1)
	}
	rq := req("2.1", withID(reqItem("Query", ""), "01"), withID(reqItem("Query", ""), "02"))
	exp := resp("2.1", withID(item("Query", "Success", ""), "01"), withID(failed("Query", "InvalidField", ""), "02"))
	act := resp("2.1", withID(failed("Query", "InvalidField", ""), "02"), withID(item("Query", "Success", ""), "01"))
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act))

	short := resp("2.1", withID(item("Query", "Success", ""), "01"))
	short = strings.Replace(short, `BatchCount type="Integer" value="1"`, `BatchCount type="Integer" value="1"`, 1)
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, short), "ResponseMessage/BatchItem[1]", "no batch item")
}

// Ensure that Query may list more operations and object types, and that a
// missing one is caught.
func TestCompare_Query(t *testing.T) {
	rq := req("2.1", reqItem("Query", `<QueryFunction type="Enumeration" value="QueryOperations"/>`))
	op := func(v string) string { return `<Operation type="Enumeration" value="` + v + `"/>` }
	exp := resp("2.1", item("Query", "Success", op("Get")+op("Locate")+`<VendorIdentification type="TextString" value="server-vendor.com"/><ServerInformation/>`))
	act := resp("2.1", item("Query", "Success", op("Locate")+op("Create")+op("Get")+`<ObjectType type="Enumeration" value="SymmetricKey"/>`+
		`<VendorIdentification type="TextString" value="kmipd"/><ServerInformation><TTLV tag="0x540001" type="TextString" value="v1"/></ServerInformation>`))
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, exp, act))
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, strings.Replace(act, op("Get"), "", 1)),
		"ResponseMessage/BatchItem[0]/ResponsePayload/Operation[0]", "missing")
}

// Ensure that Located Items may be added to a Locate response, but not
// an identifier.
func TestCompare_LocatedItems(t *testing.T) {
	rq := req("2.1", reqItem("Locate", ""))
	exp := resp("2.1", strings.Replace(item("Locate", "Success", ""), "</BatchItem>", "<ResponsePayload/></BatchItem>", 1))
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, exp, resp("2.1", item("Locate", "Success", `<LocatedItems type="Integer" value="0"/>`))))
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, resp("2.1", item("Locate", "Success", `<UniqueIdentifier type="TextString" value="x"/>`))),
		"ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier", "unexpected")
}

// Ensure that key material is free for server-generated objects only.
func TestCompare_GeneratedKeyMaterial(t *testing.T) {
	get := func(material string) string {
		return resp("2.1", item("Get", "Success", uid0+`<ObjectType type="Enumeration" value="SymmetricKey"/>`+
			`<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="`+material+
			`"/></KeyValue></KeyBlock></SymmetricKey>`))
	}
	for _, op := range []string{"Create", "Register"} {
		st := newFileState(nil, nil)
		wantPass(t, compareOnce(t, st, kmip.V2_1, req("2.1", reqItem(op, `<ObjectType type="Enumeration" value="SymmetricKey"/>`)),
			resp("2.1", item(op, "Success", uid0)), resp("2.1", item(op, "Success", `<UniqueIdentifier type="TextString" value="k"/>`))))
		actual := strings.Replace(get("bbbb"), "$UNIQUE_IDENTIFIER_0", "k", 1)
		m := compareOnce(t, st, kmip.V2_1, req("2.1", reqItem("Get", uid0)), get("aaaa"), actual)
		if op == "Create" {
			wantPass(t, m)
		} else {
			wantFail(t, m, "ResponseMessage/BatchItem[0]/ResponsePayload/SymmetricKey/KeyBlock/KeyValue/KeyMaterial", "value differs")
		}
	}
}

// Ensure that Discover Versions may list extra versions when the request
// had none, but not drop an expected one.
func TestCompare_DiscoverVersions(t *testing.T) {
	pv := func(maj, min string) string {
		return `<ProtocolVersion><ProtocolVersionMajor type="Integer" value="` + maj + `"/><ProtocolVersionMinor type="Integer" value="` + min + `"/></ProtocolVersion>`
	}
	rq := req("2.1", reqItem("DiscoverVersions", ""))
	exp := resp("2.1", item("DiscoverVersions", "Success", pv("2", "1")+pv("2", "0")))
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, exp, resp("2.1", item("DiscoverVersions", "Success", pv("2", "1")+pv("2", "0")+pv("1", "4")))))
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, exp, resp("2.1", item("DiscoverVersions", "Success", pv("2", "1")+pv("1", "4")))),
		"ResponseMessage/BatchItem[0]/ResponsePayload/ProtocolVersion[1]", "missing")
	// With a client list the answer is exact.
	rq = req("2.1", reqItem("DiscoverVersions", pv("2", "1")))
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, resp("2.1", item("DiscoverVersions", "Success", pv("2", "1"))),
		resp("2.1", item("DiscoverVersions", "Success", pv("2", "1")+pv("2", "0")))),
		"ResponseMessage/BatchItem[0]/ResponsePayload/ProtocolVersion[1]", "unexpected")
}

// Ensure that captured output binds from the response, and that a request
// naming one no response bound gets the server's last value for the tag.
func TestCompare_CapturedOutput(t *testing.T) {
	st := newFileState(nil, nil)
	st.bindings["$UNIQUE_IDENTIFIER_0"] = "k"
	rq := req("2.1", reqItem("Encrypt", uid0+`<Data type="ByteString" value="01"/>`))
	exp := resp("2.1", item("Encrypt", "Success", uid0+`<Data type="ByteString" value="$DATA_0"/><IVCounterNonce type="ByteString" value="00ff"/>`))
	act := mustNode(t, actual(resp("2.1", item("Encrypt", "Success", `<UniqueIdentifier type="TextString" value="k"/><Data type="ByteString" value="cafe"/><IVCounterNonce type="ByteString" value="1234"/>`))))
	c := comparer{s: st, ver: kmip.V2_1}
	// The IV was the server's choice (none in the request): variable.
	wantPass(t, c.response(mustNode(t, exp), act, mustNode(t, rq)))
	st.capture(act)
	out, err := st.substitute(mustNode(t, req("2.1", reqItem("Decrypt", uid0+`<Data type="ByteString" value="$DATA_0"/><IVCounterNonce type="ByteString" value="$IV_COUNTER_NONCE"/>`))))
	if err != nil {
		t.Fatal(err)
	}
	p := out.All(ttlv.TagBatchItem)[0].Child(ttlv.TagRequestPayload)
	if p.Children[1].Value != "cafe" || p.Children[2].Value != "1234" {
		t.Fatalf("substituted: %s", p)
	}
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct {
		tag          string
		typ          string
		a, b         string
		equal, error bool
	}{
		{"CryptographicUsageMask", "Integer", "Encrypt Decrypt", "Decrypt Encrypt", true, false},
		{"CryptographicUsageMask", "Integer", "Encrypt", "4", true, false},
		{"CryptographicAlgorithm", "Enumeration", "AES", "0x00000003", true, false},
		{"AttributeReference", "Enumeration", "State", "0x0042008D", true, false},
		{"PKCS_11Function", "Enumeration", "C_GetInfo", "0x00000003", true, false},
		{"KeyMaterial", "ByteString", "ABCD", "abcd", true, false},
		{"Modulus", "BigInteger", "00000000000000FF", "00ff", true, false},
		{"ActivationDate", "DateTime", "2001-01-01T10:00:00+10:00", "2001-01-01T00:00:00Z", true, false},
		{"Sensitive", "Boolean", "true", "false", false, false},
		{"CryptographicAlgorithm", "Enumeration", "NoSuchAlgorithm", "1", false, true},
	} {
		tag, _ := ttlv.TagByName(tc.tag)
		typ, _ := ttlv.ParseType(tc.typ)
		x, err1 := canonical(tag, typ, tc.a)
		y, err2 := canonical(tag, typ, tc.b)
		if tc.error {
			if err1 == nil {
				t.Errorf("%s %q: no error", tc.tag, tc.a)
			}
			continue
		}
		if err1 != nil || err2 != nil {
			t.Errorf("%s: %v %v", tc.tag, err1, err2)
			continue
		}
		if (x == y) != tc.equal {
			t.Errorf("%s: %q=%q, %q=%q", tc.tag, tc.a, x, tc.b, y)
		}
	}
}

// Ensure that C_GetInfo's CK_INFO may name another library (manufacturer,
// description, library version) but not another Cryptoki version, flags
// or length; other PKCS#11 output is exact.
func TestCompare_PKCS11GetInfo(t *testing.T) {
	// The output of PKCS11-M-1-21 step 1, and kmipd's own.
	const want = "022854455354202020202020507479204c7464202020202020202020202020202020" + "0000000000000000" +
		"5445535420202020202020202020202020202020202020202020202020202020" + "0100"
	kmipd := "0228" + strings.Repeat("6b", 32) + "0000000000000000" + strings.Repeat("20", 32) + "0105"
	rq := req("2.1", reqItem("PKCS_11", `<PKCS_11Function type="Enumeration" value="C_GetInfo"/>`))
	out := func(fn, v string) string {
		return resp("2.1", item("PKCS_11", "Success", `<PKCS_11Function type="Enumeration" value="`+fn+
			`"/><PKCS_11OutputParameters type="ByteString" value="`+v+`"/><PKCS_11ReturnCode type="Enumeration" value="OK"/>`))
	}
	wantPass(t, compareOnce(t, nil, kmip.V2_1, rq, out("C_GetInfo", want), out("C_GetInfo", kmipd)))
	path := "ResponseMessage/BatchItem[0]/ResponsePayload/PKCS_11OutputParameters"
	for _, bad := range []string{
		"0300" + kmipd[4:],                           // Cryptoki version
		kmipd[:68] + "0000000000000001" + kmipd[84:], // flags
		kmipd[:len(kmipd)-2],                         // length
	} {
		wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, out("C_GetInfo", want), out("C_GetInfo", bad)), path, "value differs")
	}
	wantFail(t, compareOnce(t, nil, kmip.V2_1, rq, out("C_Finalize", want), out("C_Finalize", kmipd)), path, "value differs")
}

// Ensure that a recording that left out the Operation its request item
// named (TC-LOGIN-3-20) accepts the server's copy of it, which SPEC20 §8.6
// requires, and nothing else in its place.
func TestCompare_OperationTheRecordingOmitted(t *testing.T) {
	rq := req("2.0", reqItem("Query", ""))
	noOp := func(s string) string {
		return strings.Replace(s, `<Operation type="Enumeration" value="Query"/>`, "", 1)
	}
	exp := resp("2.0", noOp(failed("Query", "UsageLimitExceeded", "")))
	wantPass(t, compareOnce(t, nil, kmip.V2_0, rq, exp, resp("2.0", failed("Query", "UsageLimitExceeded", ""))))
	wantPass(t, compareOnce(t, nil, kmip.V2_0, rq, exp, exp))
	wantFail(t, compareOnce(t, nil, kmip.V2_0, rq, exp, resp("2.0", failed("Locate", "UsageLimitExceeded", ""))),
		"ResponseMessage/BatchItem[0]/Operation", "unexpected element")
	// A recording that has the Operation still requires it.
	wantFail(t, compareOnce(t, nil, kmip.V2_0, rq, resp("2.0", failed("Query", "UsageLimitExceeded", "")), exp),
		"ResponseMessage/BatchItem[0]/Operation", "missing")
}
