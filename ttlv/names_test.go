package ttlv_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/ttlv"
	"github.com/kmipd/kmipd/ttlv/internal/oasis"
)

// testCaseDir holds the OASIS KMIP test-case XML files (see its README.md).
var testCaseDir = oasis.Dir("../../shared/kmip-testcases")

func TestTagNames(t *testing.T) {
	for _, c := range []struct {
		tag        ttlv.Tag
		name, spec string
	}{
		{ttlv.TagActivationDate, "ActivationDate", "Activation Date"},
		{ttlv.TagCryptographicAlgorithm, "CryptographicAlgorithm", "Cryptographic Algorithm"},
		{ttlv.TagX_509CertificateIdentifier, "X_509CertificateIdentifier", "X.509 Certificate Identifier"},
		{ttlv.TagPKCS_11Function, "PKCS_11Function", "PKCS#11 Function"},
		{ttlv.TagTemplateAttribute, "TemplateAttribute", "Template-Attribute"},
		{ttlv.TagIVCounterNonce, "IVCounterNonce", "IV/Counter/Nonce"},
	} {
		if got := c.tag.String(); got != c.name {
			t.Errorf("%#x.String() = %q, want %q", uint32(c.tag), got, c.name)
		}
		if got, ok := ttlv.TagByName(c.name); !ok || got != c.tag {
			t.Errorf("TagByName(%q) = %#x, %v", c.name, uint32(got), ok)
		}
		if got, ok := ttlv.TagBySpecName(c.spec); !ok || got != c.tag {
			t.Errorf("TagBySpecName(%q) = %#x, %v", c.spec, uint32(got), ok)
		}
		if got, ok := ttlv.TagBySpecNameBytes([]byte(c.spec)); !ok || got != c.tag {
			t.Errorf("TagBySpecNameBytes(%q) = %#x, %v", c.spec, uint32(got), ok)
		}
		if got, ok := ttlv.TagSpecName(c.tag); !ok || got != c.spec {
			t.Errorf("TagSpecName(%v) = %q, %v", c.tag, got, ok)
		}
	}
	if ttlv.TagState != 0x42008D || ttlv.TagAttributeReference != 0x42013B {
		t.Errorf("TagState = %#x, TagAttributeReference = %#x", uint32(ttlv.TagState), uint32(ttlv.TagAttributeReference))
	}

	// Unknown tags print as hex and parse back.
	for _, c := range []struct {
		tag  ttlv.Tag
		want string
	}{
		{0x540001, "0x540001"},
		{0x42fffe, "0x42fffe"},
		{0x420000, "0x420000"},
		{0x000000, "0x000000"},
		{0x12345678, "0x12345678"},
	} {
		if got := c.tag.String(); got != c.want {
			t.Errorf("Tag(%#x).String() = %q, want %q", uint32(c.tag), got, c.want)
		}
	}
	for s, want := range map[string]ttlv.Tag{"0x540001": 0x540001, "0x54ABcd": 0x54abcd, "0x42008D": ttlv.TagState} {
		if got, ok := ttlv.TagByName(s); !ok || got != want {
			t.Errorf("TagByName(%q) = %#x, %v; want %#x", s, uint32(got), ok, uint32(want))
		}
	}
	for _, s := range []string{"", "0x", "0x5400", "0x5400011", "0X540001", "0x54000g", "Bogus", "activationDate", "Activation Date"} {
		if got, ok := ttlv.TagByName(s); ok {
			t.Errorf("TagByName(%q) = %#x, want failure", s, uint32(got))
		}
	}
	for _, s := range []string{"x-ID", "y-Server", "ActivationDate", "activation date", ""} {
		if got, ok := ttlv.TagBySpecName(s); ok {
			t.Errorf("TagBySpecName(%q) = %v, want failure", s, got)
		}
	}
}

func TestTagVersions(t *testing.T) {
	for _, c := range []struct {
		tag  ttlv.Tag
		want ttlv.VersionSet
	}{
		{ttlv.TagTemplateAttribute, ttlv.V1_4},
		{0x420091, ttlv.V1_4},
		{ttlv.TagSerialNumber, ttlv.V1_4}, // deprecated 1.1, still in 1.4's table
		{ttlv.TagAttributes, ttlv.V2_0 | ttlv.V2_1},
		{0x420125, ttlv.V2_0 | ttlv.V2_1},
		{ttlv.TagAttributeReference, ttlv.V2_0 | ttlv.V2_1},
		{ttlv.TagObjectGroups, ttlv.V2_1},
		{ttlv.TagProcessingStage, ttlv.V2_1},
		{ttlv.TagActivationDate, ttlv.V1_4 | ttlv.V2_0 | ttlv.V2_1},
		{0x420137, 0}, // "Reserved" in 2.x
		{0x540001, 0},
		{0, 0},
	} {
		if got := ttlv.TagVersions(c.tag); got != c.want {
			t.Errorf("TagVersions(%v) = %v, want %v", c.tag, got, c.want)
		}
	}
	if s := (ttlv.V1_4 | ttlv.V2_1).String(); s != "1.4|2.1" {
		t.Errorf("VersionSet.String() = %q", s)
	}
}

func TestEnumKinds(t *testing.T) {
	for _, c := range []struct {
		tag  ttlv.Tag
		want ttlv.Kind
	}{
		{ttlv.TagObjectType, ttlv.KindEnum},
		{ttlv.TagMaskGeneratorHashingAlgorithm, ttlv.KindEnum},
		{ttlv.TagUniqueIdentifier, ttlv.KindEnum},
		{ttlv.TagCryptographicUsageMask, ttlv.KindMask},
		{ttlv.TagStorageStatusMask, ttlv.KindMask},
		{ttlv.TagProtectionStorageMask, ttlv.KindMask},
		{ttlv.TagAttributeReference, ttlv.KindTagEnum},
		{ttlv.TagCryptographicLength, ttlv.KindNone},
		{ttlv.TagProtectionStorageMasks, ttlv.KindNone}, // a Structure
		{0x540001, ttlv.KindNone},
	} {
		if got := ttlv.TagKind(c.tag); got != c.want {
			t.Errorf("TagKind(%v) = %v, want %v", c.tag, got, c.want)
		}
		if got := ttlv.IsMask(c.tag); got != (c.want == ttlv.KindMask) {
			t.Errorf("IsMask(%v) = %v", c.tag, got)
		}
	}
}

func TestEnumRoundTrip(t *testing.T) {
	tables, values := 0, 0
	for tag := range ttlv.Tags() {
		kind := ttlv.TagKind(tag)
		if kind == ttlv.KindNone {
			if _, ok := ttlv.EnumName(tag, 1); ok {
				t.Errorf("EnumName(%v, 1) succeeds for a tag without a table", tag)
			}
			continue
		}
		tables++
		last, first := uint32(0), true
		for v, name := range ttlv.Enums(tag) {
			values++
			if !first && v <= last {
				t.Errorf("%v: values not ascending at %#x", tag, v)
			}
			last, first = v, false
			if got, ok := ttlv.EnumValue(tag, name); !ok || got != v {
				t.Errorf("EnumValue(%v, %q) = %#x, %v; want %#x", tag, name, got, ok, v)
			}
			if got, ok := ttlv.EnumName(tag, v); !ok || got != name {
				t.Errorf("EnumName(%v, %#x) = %q, %v; want %q", tag, v, got, ok, name)
			}
			if ttlv.EnumVersions(tag, v) == 0 {
				t.Errorf("EnumVersions(%v, %#x) = 0", tag, v)
			}
			if kind == ttlv.KindMask && v&(v-1) != 0 {
				t.Errorf("%v: mask value %#x is not one bit", tag, v)
			}
		}
	}
	t.Logf("%d tags with named values, %d values", tables, values)

	// Renamed values: the newest name is returned, every name is accepted.
	for _, c := range []struct {
		tag         ttlv.Tag
		v           uint32
		name, other string
	}{
		{ttlv.TagMaskGenerator, 1, "MGF1", "MFG1"},
		{ttlv.TagResultReason, 0x39, "NotAuthorized", "NotAuthorised"},
		{ttlv.TagSplitKeyMethod, 2, "PolynomialSharingGF2_16", "PolynomialSharingGF216"},
		{ttlv.TagHashingAlgorithm, 0x0E, "SHA3_224", "SHA_3_224"},
		{ttlv.TagMaskGeneratorHashingAlgorithm, 0x11, "SHA3_512", "SHA_3_512"},
		{ttlv.TagDigitalSignatureAlgorithm, 1, "MD2WithRSAEncryption", "MD2WithRSAEncryptionPKCS_1V1_5"},
		{ttlv.TagCryptographicUsageMask, 0x400, "ContentCommitmentNonRepudiation", "ContentCommitment"},
		{ttlv.TagRevocationReasonCode, 2, "KeyCompromise", "KeyCompromise"},
		{ttlv.TagBatchErrorContinuationOption, 3, "Undo", "Undo"},
		{ttlv.TagValidationAuthorityType, 2, "NISTCMVP", "NISTCMVP"},
		{ttlv.TagUniqueIdentifier, 1, "IDPlaceholder", "IDPlaceholder"},
		{ttlv.TagLinkedObjectIdentifier, 4, "CreateKeyPair", "CreateKeyPair"},
		{ttlv.TagAttributeReference, uint32(ttlv.TagState), "State", "State"},
		{ttlv.TagCryptographicAlgorithm, 0x37, "Ed25519", "Ed25519"},
	} {
		if got, ok := ttlv.EnumName(c.tag, c.v); !ok || got != c.name {
			t.Errorf("EnumName(%v, %#x) = %q, %v; want %q", c.tag, c.v, got, ok, c.name)
		}
		for _, n := range []string{c.name, c.other} {
			if got, ok := ttlv.EnumValue(c.tag, n); !ok || got != c.v {
				t.Errorf("EnumValue(%v, %q) = %#x, %v; want %#x", c.tag, n, got, ok, c.v)
			}
		}
	}

	// Versions of values.
	for _, c := range []struct {
		tag  ttlv.Tag
		v    uint32
		want ttlv.VersionSet
	}{
		{ttlv.TagResultReason, 0x0B, ttlv.V1_4}, // Illegal Operation
		{ttlv.TagResultReason, 0x43, ttlv.V2_0 | ttlv.V2_1},
		{ttlv.TagResultReason, 0x4C, ttlv.V2_1},
		{ttlv.TagResultReason, 0x01, ttlv.V1_4 | ttlv.V2_0 | ttlv.V2_1},
		{ttlv.TagOperation, 0x3B, ttlv.V2_1}, // Ping
		{ttlv.TagCryptographicUsageMask, 0x40, ttlv.V1_4},
		{ttlv.TagCryptographicUsageMask, 0x100000, ttlv.V2_0 | ttlv.V2_1},
		{ttlv.TagAttributeReference, uint32(ttlv.TagObjectGroups), ttlv.V2_1},
		{ttlv.TagObjectType, 0x06, ttlv.V1_4},    // Template, from extra-names.txt
		{ttlv.TagKeyFormatType, 0x0E, ttlv.V1_4}, // Transparent ECDSA Private Key, likewise
		{ttlv.TagObjectType, 0x80000001, 0},
		{ttlv.TagCryptographicLength, 1, 0},
	} {
		if got := ttlv.EnumVersions(c.tag, c.v); got != c.want {
			t.Errorf("EnumVersions(%v, %#x) = %v, want %v", c.tag, c.v, got, c.want)
		}
	}

	for _, c := range []struct {
		tag  ttlv.Tag
		name string
	}{
		{ttlv.TagObjectType, "0x00000002"}, // no hex
		{ttlv.TagObjectType, "symmetricKey"},
		{ttlv.TagObjectType, "Symmetric Key"},
		{ttlv.TagObjectType, ""},
		{ttlv.TagAttributeReference, "0x42008D"},
		{ttlv.TagAttributeReference, "Bogus"},
		{ttlv.TagCryptographicLength, "AES"},
		{ttlv.TagCryptographicUsageMask, "Encrypt Decrypt"}, // that is ParseMask's
		{ttlv.TagPKCS_11Function, "C_Initialize"},
	} {
		if v, ok := ttlv.EnumValue(c.tag, c.name); ok {
			t.Errorf("EnumValue(%v, %q) = %#x, want failure", c.tag, c.name, v)
		}
	}
}

// TestEnumTablesMatchJSON checks every row of the source tables against the
// generated ones, reading the generator's inputs directly.
func TestEnumTablesMatchJSON(t *testing.T) {
	b, err := os.ReadFile("../internal/gentables/kmip-enums-tags.json")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name, XML, Value string
		XMLAliases       []string `json:"xml_aliases"`
	}
	var data map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	bits := map[string]ttlv.VersionSet{"1.4": ttlv.V1_4, "2.0": ttlv.V2_0, "2.1": ttlv.V2_1}
	usable := func(r row) (uint32, bool) {
		v, err := strconv.ParseUint(strings.TrimPrefix(r.Value, "0x"), 16, 32)
		return uint32(v), err == nil && r.Name != "Reserved" && r.Name != "(Reserved)" &&
			r.XML != "" && (r.XML[0] < '0' || r.XML[0] > '9')
	}
	tables := map[string]map[string][]row{}
	nTags := 0
	for ver, tabs := range data {
		if ver == "_meta" {
			continue
		}
		tables[ver] = map[string][]row{}
		for name, raw := range tabs {
			if name == "__bitmasks__" {
				var m map[string][]row
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				for k, rows := range m {
					tables[ver][k] = rows
				}
				continue
			}
			var rows []row
			if err := json.Unmarshal(raw, &rows); err != nil {
				t.Fatal(err)
			}
			tables[ver][name] = rows
		}
		for _, r := range tables[ver]["Tag"] {
			v, ok := usable(r)
			if !ok {
				continue
			}
			nTags++
			tag := ttlv.Tag(v)
			if got, ok := ttlv.TagByName(r.XML); !ok || got != tag {
				t.Errorf("%s: TagByName(%q) = %v, want %#x", ver, r.XML, got, v)
			}
			if got, ok := ttlv.TagBySpecName(r.Name); !ok || got != tag {
				t.Errorf("%s: TagBySpecName(%q) = %v, want %#x", ver, r.Name, got, v)
			}
			if ttlv.TagVersions(tag)&bits[ver] == 0 {
				t.Errorf("%s: TagVersions(%v) = %v", ver, tag, ttlv.TagVersions(tag))
			}
		}
	}

	f, err := os.Open("../internal/gentables/tag-enums.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nRows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, spec, _ := strings.Cut(line, " ")
		tag, ok := ttlv.TagByName(name)
		if !ok {
			t.Errorf("tag-enums.txt: unknown tag %q", name)
			continue
		}
		spec, mask := strings.CutPrefix(strings.TrimSpace(spec), "mask:")
		if mask != ttlv.IsMask(tag) {
			t.Errorf("IsMask(%v) = %v", tag, !mask)
		}
		if spec == "Tag" {
			continue
		}
		for ver, tabs := range tables {
			for _, alt := range strings.Split(spec, "|") {
				for _, r := range tabs[strings.TrimSpace(alt)] {
					v, ok := usable(r)
					if !ok {
						continue
					}
					nRows++
					for _, n := range append([]string{r.XML}, r.XMLAliases...) {
						if got, ok := ttlv.EnumValue(tag, n); !ok || got != v {
							t.Errorf("%s %s: EnumValue(%v, %q) = %#x, %v; want %#x", ver, alt, tag, n, got, ok, v)
						}
					}
					if _, ok := ttlv.EnumName(tag, v); !ok {
						t.Errorf("%s %s: EnumName(%v, %#x) fails", ver, alt, tag, v)
					}
					if ttlv.EnumVersions(tag, v)&bits[ver] == 0 {
						t.Errorf("%s %s: EnumVersions(%v, %#x) = %v", ver, alt, tag, v, ttlv.EnumVersions(tag, v))
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("checked %d tag rows and %d enumeration rows", nTags, nRows)
}

func TestMaskAppendParse(t *testing.T) {
	cum := ttlv.TagCryptographicUsageMask
	for _, c := range []struct {
		tag  ttlv.Tag
		v    uint32
		sep  byte
		want string
	}{
		{cum, 0x0C, ' ', "Encrypt Decrypt"},
		{cum, 0x0C, '|', "Encrypt|Decrypt"},
		{cum, 0x01, ' ', "Sign"},
		{cum, 0x200000, ' ', "Unrestricted"},
		{cum, 0x400, ' ', "ContentCommitmentNonRepudiation"},
		{cum, 0x0C | 0x04000000 | 0x80000000, '|', "Encrypt|Decrypt|0x84000000"},
		{cum, 0x80000000, ' ', "0x80000000"},
		{cum, 0, ' ', "0x00000000"},
		{ttlv.TagStorageStatusMask, 0x07, ' ', "OnLineStorage ArchivalStorage DestroyedStorage"},
		{ttlv.TagProtectionStorageMask, 0x2001, '|', "Software|SameJurisdiction"},
		{ttlv.TagCryptographicLength, 0x0C, ' ', "0x0000000c"},
	} {
		got := string(ttlv.AppendMask(nil, c.tag, c.v, c.sep))
		if got != c.want {
			t.Errorf("AppendMask(%v, %#x, %q) = %q, want %q", c.tag, c.v, c.sep, got, c.want)
		}
		back, ok := ttlv.ParseMask(c.tag, got, c.sep)
		if !ok || back != c.v {
			t.Errorf("ParseMask(%v, %q) = %#x, %v; want %#x", c.tag, got, back, ok, c.v)
		}
	}
	if got := string(ttlv.AppendMask([]byte("x="), cum, 3, ' ')); got != "x=Sign Verify" {
		t.Errorf("AppendMask does not append: %q", got)
	}
	for _, c := range []struct {
		s    string
		sep  byte
		want uint32
	}{
		{"Decrypt Encrypt", ' ', 0x0C},
		{"  Encrypt   Decrypt ", ' ', 0x0C},
		{"Encrypt | Decrypt", '|', 0x0C},
		{"0x00000004|Sign", '|', 0x05},
		{"0x4 0X10", ' ', 0}, // 0X is not hex
		{"ContentCommitment", ' ', 0x400},
		{"Export", ' ', 0x40},
		{"Encrypt Encrypt", ' ', 0x04},
	} {
		got, ok := ttlv.ParseMask(cum, c.s, c.sep)
		if want := c.want != 0; ok != want || got != c.want {
			t.Errorf("ParseMask(%q, %q) = %#x, %v; want %#x", c.s, c.sep, got, ok, c.want)
		}
	}
	for _, s := range []string{"", " ", "Bogus", "Encrypt Bogus", "Encrypt|Decrypt", "12", "0x", "0x123456789", "0xg"} {
		if got, ok := ttlv.ParseMask(cum, s, ' '); ok {
			t.Errorf("ParseMask(%q) = %#x, want failure", s, got)
		}
	}
	if _, ok := ttlv.ParseMask(ttlv.TagCryptographicLength, "Encrypt", ' '); ok {
		t.Error("ParseMask parses names for a tag that is not a mask")
	}
	if v, ok := ttlv.ParseMask(ttlv.TagCryptographicLength, "0x10", ' '); !ok || v != 0x10 {
		t.Errorf("ParseMask of hex for a tag that is not a mask = %#x, %v", v, ok)
	}
}

func TestNamesDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	spec := []byte("Cryptographic Algorithm")
	for name, f := range map[string]func(){
		"Tag.String":         func() { _ = ttlv.TagCryptographicAlgorithm.String() },
		"TagByName":          func() { ttlv.TagByName("CryptographicAlgorithm") },
		"TagByName hex":      func() { ttlv.TagByName("0x540001") },
		"TagBySpecName":      func() { ttlv.TagBySpecName("Cryptographic Algorithm") },
		"TagBySpecNameBytes": func() { ttlv.TagBySpecNameBytes(spec) },
		"EnumName":           func() { ttlv.EnumName(ttlv.TagObjectType, 2) },
		"EnumName tag":       func() { ttlv.EnumName(ttlv.TagAttributeReference, uint32(ttlv.TagState)) },
		"EnumValue":          func() { ttlv.EnumValue(ttlv.TagResultReason, "ItemNotFound") },
		"EnumVersions":       func() { ttlv.EnumVersions(ttlv.TagOperation, 1) },
		"TagVersions":        func() { ttlv.TagVersions(ttlv.TagState) },
		"AppendMask":         func() { buf = ttlv.AppendMask(buf[:0], ttlv.TagCryptographicUsageMask, 0x8000000F, ' ') },
		"ParseMask":          func() { ttlv.ParseMask(ttlv.TagCryptographicUsageMask, "Encrypt Decrypt 0x10", ' ') },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

// TestNamesOfTestCaseFiles resolves every element name, enumeration text and mask
// of the OASIS test-case files.
func TestNamesOfTestCaseFiles(t *testing.T) {
	if _, err := os.Stat(testCaseDir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s not present", testCaseDir)
	} else if err != nil {
		t.Fatal(err)
	}
	var st tcStats
	for _, ver := range []string{"1.4", "2.0", "2.1"} {
		n := 0
		err := filepath.WalkDir(filepath.Join(testCaseDir, ver), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".xml") {
				return err
			}
			n++
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			checkTestCase(t, path, fixDoubleClose(b), &st)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("no .xml files under %s", filepath.Join(testCaseDir, ver))
		}
		st.files += n
	}
	t.Logf("%d files, %d elements, %d structures", st.files, st.elements, st.structures)
	t.Logf("Enumerations: %d by name (%d of them inside 1.x Attribute via Attribute Name, %d Attribute Reference tags), %d in hex, %d PKCS#11 names skipped",
		st.enums, st.attrEnums, st.tagEnums, st.hexEnums, st.pkcs11)
	t.Logf("masks: %d (%d inside 1.x Attribute); %d values of custom attributes", st.masks, st.attrMasks, st.custom)
}

// fixDoubleClose drops the duplicated </KMIP> that TC-ECDSA-SIGN-1-14.xml
// ends with.
func fixDoubleClose(b []byte) []byte {
	const end = "</KMIP>"
	for bytes.Count(b, []byte(end)) > bytes.Count(b, []byte("<KMIP")) {
		i := bytes.LastIndex(b, []byte(end))
		b = append(b[:i:i], b[i+len(end):]...)
	}
	return b
}

type tcStats struct {
	files, elements, structures int
	enums, attrEnums, tagEnums  int
	hexEnums, pkcs11            int
	masks, attrMasks            int
	custom                      int
}

func checkTestCase(t *testing.T, path string, src []byte, st *tcStats) {
	t.Helper()
	type frame struct {
		tag      ttlv.Tag
		attrName string // for Attribute: the Attribute Name text
	}
	var stack []frame
	dec := xml.NewDecoder(bytes.NewReader(src))
	fail := func(format string, args ...any) {
		line, _ := dec.InputPos()
		t.Errorf("%s:%d: "+format, append([]any{path, line}, args...)...)
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("%v", err)
			return
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.StartElement:
			name := tok.Name.Local
			var parent *frame
			if len(stack) > 0 {
				parent = &stack[len(stack)-1]
			}
			if name == "KMIP" {
				stack = append(stack, frame{})
				continue
			}
			st.elements++
			tag, ok := ttlv.TagByName(name)
			if !ok {
				fail("element %s: no such tag", name)
			}
			stack = append(stack, frame{tag: tag})
			var typ, value string
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "type":
					typ = a.Value
				case "value":
					value = a.Value
				}
			}
			if typ == "" {
				st.structures++
				continue
			}
			if _, ok := ttlv.ParseType(typ); !ok {
				fail("element %s: unknown type %q", name, typ)
			}
			inAttr := parent != nil && parent.tag == ttlv.TagAttribute
			if inAttr && tag == ttlv.TagAttributeName {
				parent.attrName = value
			}
			// The table of a 1.x Attribute Value comes from the Attribute
			// Name next to it.
			valueTag := tag
			if inAttr && tag == ttlv.TagAttributeValue {
				at, ok := ttlv.TagBySpecName(parent.attrName)
				switch {
				case ok:
					valueTag = at
				case typ == "Enumeration":
					fail("Attribute Value %s %q: Attribute Name %q is no tag", typ, value, parent.attrName)
					continue
				default:
					st.custom++ // a custom or vendor attribute
				}
			}
			switch typ {
			case "Enumeration":
				switch {
				case strings.HasPrefix(value, "0x"):
					st.hexEnums++
				case valueTag == ttlv.TagPKCS_11Function || valueTag == ttlv.TagPKCS_11ReturnCode:
					st.pkcs11++ // not tabulated by the specification
				default:
					if _, ok := ttlv.EnumValue(valueTag, value); !ok {
						fail("%s (%v): no enumeration value %q", name, valueTag, value)
						continue
					}
					st.enums++
					if valueTag != tag {
						st.attrEnums++
					}
					if ttlv.TagKind(valueTag) == ttlv.KindTagEnum {
						st.tagEnums++
					}
				}
			case "Integer":
				if !ttlv.IsMask(valueTag) {
					continue
				}
				if _, ok := ttlv.ParseMask(valueTag, value, ' '); !ok {
					fail("%s (%v): mask %q does not parse", name, valueTag, value)
					continue
				}
				st.masks++
				if valueTag != tag {
					st.attrMasks++
				}
			}
		}
	}
	if len(stack) != 0 {
		fail("unbalanced elements")
	}
}

// TestNamesGeneratedFilesAreCurrent regenerates the tables into a temporary
// directory and compares them with the checked-in files.
func TestNamesGeneratedFilesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	dir := t.TempDir()
	cmd := exec.Command(gobin, "run", "./internal/gentables", "-out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, out)
	}
	for gen, have := range map[string]string{
		filepath.Join(dir, "ztags.go"):  "ztags.go",
		filepath.Join(dir, "zenums.go"): "zenums.go",
	} {
		a, err := os.ReadFile(gen)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(have)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s is stale: run go generate ./ttlv", have)
		}
	}
}
