package audit

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// With Options.Node, every line (operations, events, checkpoints) names the
// node, inside the hash chain: the trail verifies, and a line whose node is
// changed does not.
func TestTrail_NodeOnEveryLine(t *testing.T) {
	o := testOptions(t)
	o.Node = "kms-2"
	o.CheckpointInterval = 3
	tr := openTrail(t, o)
	for i := range 7 {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Event("backup", "local admin", "a backup"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, o.Path)
	if len(lines) < 10 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if !bytes.HasPrefix(l, []byte(`{"seq":`)) || !bytes.Contains(l, []byte(`,"node":"kms-2","time":`)) {
			t.Fatalf("line without the node: %s", l)
		}
	}
	key := mustKey(t, o.KeyPath)
	if _, err := VerifyFile(o.Path, key); err != nil {
		t.Fatalf("trail with nodes does not verify: %v", err)
	}
	forged := bytes.Replace(bytes.Join(lines, []byte("\n")), []byte(`"node":"kms-2"`), []byte(`"node":"kms-1"`), 1)
	if err := os.WriteFile(o.Path, append(forged, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyFile(o.Path, key); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("a changed node verifies: %v", err)
	}
}
