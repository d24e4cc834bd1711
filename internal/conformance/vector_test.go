package conformance

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/ttlv"
)

// oasisDir is where the OASIS test cases are kept next to the repository
// (../shared/kmip-testcases); tests that need them skip without them.
var oasisDir = CasesDir(filepath.Join("..", "..", "..", "shared", "kmip-testcases"))

func needOASIS(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(oasisDir); err != nil {
		t.Skipf("OASIS test cases not found at %s", oasisDir)
	}
	return oasisDir
}

// Ensure that comments (holding a whole message), a duplicated </KMIP>
// and hex enumerations load.
func TestLoad_CommentsAndDuplicatedEnd(t *testing.T) {
	v, err := Load("testdata/basic-21.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Steps) != 5 {
		t.Fatalf("%d steps, want 5", len(v.Steps))
	}
	if op := v.Steps[0].Request.Path(ttlv.TagBatchItem, ttlv.TagOperation).Value; op != "Register" {
		t.Fatalf("first operation %q: the commented-out Destroy was read", op)
	}
	for i, s := range v.Steps {
		if s.Request.Tag != ttlv.TagRequestMessage || s.Response.Tag != ttlv.TagResponseMessage {
			t.Fatalf("step %d: %s/%s", i, s.Request.Name, s.Response.Name)
		}
	}
}

// Ensure that text between the messages (1.x files) is ignored.
func TestLoad_TextBetweenMessages(t *testing.T) {
	v, err := Load("testdata/basic-14.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Steps) != 4 {
		t.Fatalf("%d steps, want 4", len(v.Steps))
	}
}

// Ensure that malformed files are rejected with a line number.
func TestParse_Errors(t *testing.T) {
	rq := `<RequestMessage><RequestHeader><BatchCount type="Integer" value="1"/></RequestHeader></RequestMessage>`
	rs := `<ResponseMessage><ResponseHeader><BatchCount type="Integer" value="1"/></ResponseHeader></ResponseMessage>`
	for name, tc := range map[string]struct{ in, want string }{
		"unpaired":       {"<KMIP>" + rq + rq + rs + "</KMIP>", "2 requests but 1 responses"},
		"response first": {"<KMIP>\n" + rs + "\n" + rq + "\n</KMIP>", "response before its request"},
		"unknown tag":    {"<KMIP><RequestMessage><Bogus/></RequestMessage></KMIP>", "unknown element <Bogus>"},
		"text":           {"<KMIP><RequestMessage>hello</RequestMessage></KMIP>", "text inside"},
		"unclosed":       {"<KMIP>" + rq, "EOF"},
		"empty":          {"<KMIP></KMIP>", "no messages"},
		"no value":       {`<KMIP><RequestMessage><BatchCount type="Integer"/></RequestMessage></KMIP>`, "no value"},
		"other message":  {`<KMIP><RequestHeader/></KMIP>`, "neither"},
	} {
		_, err := Parse(name, []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// Ensure that a tree survives TTLV and back, with values in the XML forms.
func TestNode_TTLVRoundTrip(t *testing.T) {
	v, err := Load("testdata/basic-14.xml")
	if err != nil {
		t.Fatal(err)
	}
	n := v.Steps[0].Request
	msg, err := n.TTLV()
	if err != nil {
		t.Fatal(err)
	}
	back, err := NodeFromTTLV(msg)
	if err != nil {
		t.Fatal(err)
	}
	msg2, err := back.TTLV()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, msg2) {
		t.Fatalf("round trip differs:\n%s\n%s", n, back)
	}
	// The 1.x Attribute Value is written with its attribute's names.
	if s := back.String(); !strings.Contains(s, `<AttributeValue type="Enumeration" value="AES"/>`) ||
		!strings.Contains(s, `<AttributeValue type="Integer" value="Encrypt Decrypt"/>`) {
		t.Fatalf("names lost:\n%s", s)
	}
}

// Ensure that every OASIS file loads and every request encodes, including
// TC-ECDSA-SIGN-1-14 (duplicated </KMIP>) and the files whose comments
// hold messages.
func TestLoad_OASISFiles(t *testing.T) {
	dir := needOASIS(t)
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, f := range files {
		v, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		st := newFileState(nil, nil)
		for i, s := range v.Steps {
			req, err := st.substitute(s.Request)
			if err != nil {
				t.Errorf("%s step %d: %v", f, i, err)
				break
			}
			if _, err := req.TTLV(); err != nil {
				t.Errorf("%s step %d: %v", f, i, err)
			}
			steps++
			// Play the server: the expected response, with values of the
			// right type for its placeholders.
			act := s.Response.Clone()
			act.walk(func(n *Node) {
				if strings.HasPrefix(n.Value, "$") && !strings.HasPrefix(n.Value, "$NOW") {
					if _, ok := st.bound(n.Value); !ok {
						st.bind(n.Value, "00")
					}
					n.Value = st.bindings[n.Value]
				}
			})
			st.capture(act)
		}
	}
	if len(files) < 300 || steps < 2000 {
		t.Errorf("%d files, %d steps: fewer than expected", len(files), steps)
	}
	ecdsa, err := Load(filepath.Join(dir, "1.4", "testcases", "TC-ECDSA-SIGN-1-14.xml"))
	if err != nil || len(ecdsa.Steps) == 0 {
		t.Fatalf("TC-ECDSA-SIGN-1-14: %v", err)
	}
}

func TestFiles(t *testing.T) {
	files, err := Files("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 || files[0] != filepath.Join("testdata", "basic-14.xml") {
		t.Fatalf("files = %v", files)
	}
	if _, err := Files("testdata/nonexistent"); err == nil {
		t.Fatal("no error for a missing path")
	}
	if _, err := Files(t.TempDir()); err == nil {
		t.Fatal("no error for a directory without test cases")
	}
}

func TestContinuation(t *testing.T) {
	for in, want := range map[string]string{
		"d/SASED-M-3-21.xml": "d/SASED-M-2-21.xml",
		"TL-M-3-14.xml":      "TL-M-2-14.xml",
		"d/TL-M-2-21.xml":    "",
		"SKLC-M-3-21.xml":    "",
	} {
		if got := Continuation(in); got != want {
			t.Errorf("Continuation(%q) = %q, want %q", in, got, want)
		}
	}
}
