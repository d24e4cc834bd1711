package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// getRequestHex is a KMIP 2.0 Get request for object "1".
const getRequestHex = "42007801000000704200770100000038420069010000002042006a0200000004000000020000000042006b0200000004" +
	"000000000000000042000d0200000004000000010000000042000f010000002842005c05000000040000000a0000000042007901" +
	"0000001042009407000000013100000000000000"

const getRequestTree = `RequestMessage
  RequestHeader
    ProtocolVersion
      ProtocolVersionMajor (Integer) 2
      ProtocolVersionMinor (Integer) 0
    BatchCount (Integer) 1
  BatchItem
    Operation (Enumeration) Get
    RequestPayload
      UniqueIdentifier (TextString) "1"
`

func ttlvRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := runCtl(stdin, append([]string{"ttlv"}, args...)...)
	if code != 0 {
		t.Fatalf("ttlv %v: exit %d %s", args, code, errOut)
	}
	return out
}

// Ensure that ttlv decode shows a known message as the expected tree,
// whatever the hex looks like.
func TestTTLV_Decode(t *testing.T) {
	isolateEnv(t)
	if out := ttlvRun(t, getRequestHex, "decode"); out != getRequestTree {
		t.Fatalf("decode:\n%s", out)
	}
	spaced := "0x" + strings.ToUpper(getRequestHex[:40]) + "\n  " + getRequestHex[40:80] + " \n" + getRequestHex[80:] + "\n"
	if out := ttlvRun(t, spaced, "decode", "--in", "hex"); out != getRequestTree {
		t.Fatalf("decode spaced hex:\n%s", out)
	}
	bin, _ := hex.DecodeString(getRequestHex)
	file := filepath.Join(t.TempDir(), "req.bin")
	os.WriteFile(file, bin, 0o600)
	if out := ttlvRun(t, "", "decode", file); out != getRequestTree {
		t.Fatalf("decode binary file:\n%s", out)
	}
	// A valid message followed by a truncated one: the tree as far as
	// it goes, and a failure.
	out, errOut, code := runCtl(getRequestHex+getRequestHex[:100], "ttlv", "decode")
	if code != 1 || !strings.HasPrefix(out, getRequestTree) || !strings.Contains(out, "!! ") || !strings.Contains(errOut, "not valid TTLV") {
		t.Errorf("truncated: exit %d\n%s%s", code, out, errOut)
	}
}

// Ensure that hex, binary, XML and JSON convert into each other without
// loss.
func TestTTLV_RoundTrips(t *testing.T) {
	isolateEnv(t)
	xml := ttlvRun(t, getRequestHex, "decode", "--out", "xml")
	if !strings.Contains(xml, `<Operation type="Enumeration" value="Get"/>`) || !strings.HasPrefix(xml, "<RequestMessage>") {
		t.Fatalf("xml:\n%s", xml)
	}
	js := ttlvRun(t, getRequestHex, "decode", "--out", "json")
	if !strings.Contains(js, `{"tag":"Operation","type":"Enumeration","value":"Get"}`) {
		t.Fatalf("json:\n%s", js)
	}
	for name, in := range map[string]string{"xml": xml, "json": js} {
		if out := ttlvRun(t, in, "encode"); out != getRequestHex+"\n" {
			t.Errorf("encode %s: %s", name, out)
		}
		if out := ttlvRun(t, in, "encode", "--in", name, "--out", "tree"); out != getRequestTree {
			t.Errorf("%s to tree:\n%s", name, out)
		}
	}
	if out := ttlvRun(t, xml, "encode", "--out", "json"); out != js {
		t.Errorf("xml to json:\n%s", out)
	}
	bin := ttlvRun(t, js, "encode", "--out", "bin")
	if hex.EncodeToString([]byte(bin)) != getRequestHex {
		t.Errorf("json to bin: %x", bin)
	}
	if out := ttlvRun(t, bin, "decode", "--in", "bin", "--out", "hex"); out != getRequestHex+"\n" {
		t.Errorf("bin to hex: %s", out)
	}

	// Two messages: two hex lines, a JSON array, two XML elements.
	two := getRequestHex + getRequestHex
	js2 := ttlvRun(t, two, "decode", "--out", "json")
	if !strings.HasPrefix(js2, "[\n") {
		t.Fatalf("two items as json:\n%s", js2)
	}
	want := getRequestHex + "\n" + getRequestHex + "\n"
	if out := ttlvRun(t, js2, "encode"); out != want {
		t.Errorf("json array back: %s", out)
	}
	xml2 := ttlvRun(t, two, "decode", "--out", "xml")
	if out := ttlvRun(t, xml2, "encode"); out != want {
		t.Errorf("two xml messages back: %s", out)
	}
	if out := ttlvRun(t, two, "decode"); out != getRequestTree+getRequestTree {
		t.Errorf("two messages as a tree:\n%s", out)
	}
	// OASIS test-case layout.
	wrapped := "<KMIP>\n" + xml + "</KMIP>\n"
	if out := ttlvRun(t, wrapped, "encode"); out != getRequestHex+"\n" {
		t.Errorf("<KMIP> wrapper: %s", out)
	}
}

// Ensure that bad input is refused with the right status.
func TestTTLV_Errors(t *testing.T) {
	isolateEnv(t)
	for _, tc := range []struct {
		in   string
		args []string
		code int
	}{
		{"", []string{"decode"}, 2},
		{"zz", []string{"decode", "--in", "hex"}, 2},
		{getRequestHex, []string{"decode", "--out", "yaml"}, 2},
		{"<RequestMessage><Oops type=\"Integer\" value=\"1\"/></RequestMessage>", []string{"encode"}, 1},
		{`{"tag":"RequestMessage","value":[{"tag":"BatchCount","type":"Integer","value":"x"}]}`, []string{"encode"}, 1},
		{getRequestHex[:100], []string{"decode", "--out", "json"}, 1},
	} {
		if _, errOut, code := runCtl(tc.in, append([]string{"ttlv"}, tc.args...)...); code != tc.code {
			t.Errorf("%v on %.30q: exit %d, want %d (%s)", tc.args, tc.in, code, tc.code, errOut)
		}
	}
}
