package conformance

import (
	"path/filepath"
	"testing"

	"github.com/kmipd/kmipd/ttlv"
)

// msg is a one-item message of the given kind and operation.
func msg(kind, op string) string {
	status := ""
	if kind == "Response" {
		status = `<ResultStatus type="Enumeration" value="Success"/>`
	}
	return `<` + kind + `Message><` + kind + `Header><ProtocolVersion>` +
		`<ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="0"/>` +
		`</ProtocolVersion><BatchCount type="Integer" value="1"/></` + kind + `Header>` +
		`<BatchItem><Operation type="Enumeration" value="` + op + `"/>` + status + `</BatchItem></` + kind + `Message>`
}

func stepOps(steps []Step) (out [][2]string) {
	for _, s := range steps {
		out = append(out, [2]string{
			s.Request.Path(ttlv.TagBatchItem, ttlv.TagOperation).Value,
			s.Response.Path(ttlv.TagBatchItem, ttlv.TagOperation).Value,
		})
	}
	return out
}

// TC-DERIVEKEY-4-10 lists Destroy and Revoke requests before the Revoke and
// Destroy responses: each response gets the request of its operation, in
// the order of the responses.
func TestPairByOperation(t *testing.T) {
	file := "<KMIP>\n" + msg("Request", "Get") + "\n" + msg("Response", "Get") + "\n" +
		msg("Request", "Destroy") + "\n" + msg("Request", "Revoke") + "\n" +
		msg("Response", "Revoke") + "\n" + msg("Response", "Destroy") + "\n" +
		msg("Request", "Destroy") + "\n" + msg("Response", "Destroy") + "\n</KMIP>\n"
	v, err := Parse("swapped.xml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	before := stepOps(v.Steps)
	got := stepOps(pairByOperation(v.Steps))
	want := [][2]string{{"Get", "Get"}, {"Revoke", "Revoke"}, {"Destroy", "Destroy"}, {"Destroy", "Destroy"}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("paired %v, want %v", got, want)
		}
	}
	if after := stepOps(v.Steps); after[1] != before[1] || before[1] != [2]string{"Destroy", "Revoke"} {
		t.Fatalf("the loaded vector changed: %v", after)
	}
	// A file whose requests and responses agree is left as it is.
	ok := pairByOperation(v.Steps[:1])
	if &ok[0] != &v.Steps[0] {
		t.Fatal("an agreeing file was copied")
	}
}

// The OASIS file itself, when it is there.
func TestPairByOperation_DeriveKey410(t *testing.T) {
	dir := needOASIS(t)
	v, err := Load(filepath.Join(dir, "1.4", "testcases", "TC-DERIVEKEY-4-10.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range stepOps(pairByOperation(v.Steps)) {
		if p[0] != p[1] {
			t.Fatalf("step %d pairs a %s request with a %s response", i, p[0], p[1])
		}
	}
}

func TestContinuation_ClientRegistration(t *testing.T) {
	for in, want := range map[string]string{
		"d/TC-CREG-2-14.xml": "d/TC-CREG-1-14.xml",
		"TC-CREG-3-14.xml":   "TC-CREG-2-14.xml",
		"TC-CREG-1-14.xml":   "",
		"TC-Q-CREG-1-14.xml": "",
	} {
		if got := Continuation(in); got != want {
			t.Errorf("Continuation(%q) = %q, want %q", in, got, want)
		}
	}
}
