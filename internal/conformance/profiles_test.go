package conformance

import (
	"testing"

	"github.com/kmipd/kmipd/kmip"
)

func TestQueryRequired(t *testing.T) {
	ops, objs := queryRequired("/x/SASED-M-1-14.xml")
	if !ops[kmip.OperationRegister] || !ops[kmip.OperationLocate] || ops[kmip.OperationPoll] || ops[kmip.OperationEncrypt] {
		t.Errorf("SASED operations: %v", ops)
	}
	if !objs[kmip.ObjectTypeSecretData] || objs[kmip.ObjectTypeTemplate] {
		t.Errorf("SASED object types: %v", objs)
	}
	ops, _ = queryRequired("CS-AC-M-OAEP-3-21.xml")
	if !ops[kmip.OperationSign] || !ops[kmip.OperationRNGSeed] {
		t.Errorf("CS-AC operations: %v", ops)
	}
	ops, _ = queryRequired("SKLC-O-1-21.xml")
	if !ops[kmip.OperationCreate] {
		t.Errorf("SKLC optional file: %v", ops)
	}
	if ops, objs := queryRequired("TC-Q-CAP-1-14.xml"); ops != nil || objs != nil {
		t.Error("a test-case file has no profile: Query is compared as recorded")
	}
}
