package lifecycle_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

const (
	none = kmip.State(0)
	pre  = kmip.StatePreActive
	act  = kmip.StateActive
	deac = kmip.StateDeactivated
	comp = kmip.StateCompromised
	dest = kmip.StateDestroyed
	dcmp = kmip.StateDestroyedCompromised
	bad  = kmip.State(7)
)

// Expected results, spelled out.
const (
	ok = kmip.ResultReason(0)
	wk = kmip.ResultReasonWrongKeyLifecycleState
	od = kmip.ResultReasonObjectDestroyed
)

func reason(t *testing.T, err error) kmip.ResultReason {
	t.Helper()
	if err == nil {
		return ok
	}
	var ke *kmip.Error
	if !errors.As(err, &ke) {
		t.Fatalf("error %v is not a *kmip.Error", err)
	}
	return ke.Reason
}

// Ensure that Transition implements exactly the table of KMIP 2.0 §4.50,
// for every state and every event.
func TestTransition(t *testing.T) {
	cases := []struct {
		from kmip.State
		ev   lifecycle.Event
		to   kmip.State
		err  kmip.ResultReason
	}{
		{none, lifecycle.EventCreate, pre, ok},
		{none, lifecycle.EventActivate, none, wk},
		{none, lifecycle.EventActivationDateReached, none, wk},
		{none, lifecycle.EventDeactivationDateReached, none, wk},
		{none, lifecycle.EventRevokeCompromise, none, wk},
		{none, lifecycle.EventRevokeOther, none, wk},
		{none, lifecycle.EventDestroy, none, wk},

		{pre, lifecycle.EventCreate, pre, wk},
		{pre, lifecycle.EventActivate, act, ok},
		{pre, lifecycle.EventActivationDateReached, act, ok},
		{pre, lifecycle.EventDeactivationDateReached, pre, wk},
		{pre, lifecycle.EventRevokeCompromise, comp, ok},
		{pre, lifecycle.EventRevokeOther, pre, wk},
		{pre, lifecycle.EventDestroy, dest, ok},

		{act, lifecycle.EventCreate, act, wk},
		{act, lifecycle.EventActivate, act, wk},
		{act, lifecycle.EventActivationDateReached, act, wk},
		{act, lifecycle.EventDeactivationDateReached, deac, ok},
		{act, lifecycle.EventRevokeCompromise, comp, ok},
		{act, lifecycle.EventRevokeOther, deac, ok},
		{act, lifecycle.EventDestroy, act, wk},

		{deac, lifecycle.EventCreate, deac, wk},
		{deac, lifecycle.EventActivate, deac, wk},
		{deac, lifecycle.EventActivationDateReached, deac, wk},
		{deac, lifecycle.EventDeactivationDateReached, deac, wk},
		{deac, lifecycle.EventRevokeCompromise, comp, ok},
		{deac, lifecycle.EventRevokeOther, deac, wk},
		{deac, lifecycle.EventDestroy, dest, ok},

		{comp, lifecycle.EventCreate, comp, wk},
		{comp, lifecycle.EventActivate, comp, wk},
		{comp, lifecycle.EventActivationDateReached, comp, wk},
		{comp, lifecycle.EventDeactivationDateReached, comp, wk},
		{comp, lifecycle.EventRevokeCompromise, comp, wk},
		{comp, lifecycle.EventRevokeOther, comp, wk},
		{comp, lifecycle.EventDestroy, dcmp, ok},

		{dest, lifecycle.EventCreate, dest, wk},
		{dest, lifecycle.EventActivate, dest, wk},
		{dest, lifecycle.EventActivationDateReached, dest, wk},
		{dest, lifecycle.EventDeactivationDateReached, dest, wk},
		{dest, lifecycle.EventRevokeCompromise, dcmp, ok},
		{dest, lifecycle.EventRevokeOther, dest, wk},
		{dest, lifecycle.EventDestroy, dest, od},

		{dcmp, lifecycle.EventCreate, dcmp, wk},
		{dcmp, lifecycle.EventActivate, dcmp, wk},
		{dcmp, lifecycle.EventActivationDateReached, dcmp, wk},
		{dcmp, lifecycle.EventDeactivationDateReached, dcmp, wk},
		{dcmp, lifecycle.EventRevokeCompromise, dcmp, wk},
		{dcmp, lifecycle.EventRevokeOther, dcmp, wk},
		{dcmp, lifecycle.EventDestroy, dcmp, od},

		{bad, lifecycle.EventActivate, bad, wk},
		{bad, lifecycle.EventDestroy, bad, wk},
		{pre, lifecycle.Event(0), pre, wk},
		{pre, lifecycle.Event(99), pre, wk},
	}
	for _, c := range cases {
		to, err := lifecycle.Transition(c.from, c.ev)
		if r := reason(t, err); to != c.to || r != c.err {
			t.Errorf("Transition(%v, %v) = %v, %v; want %v, %v", c.from, c.ev, to, r, c.to, c.err)
		}
	}
}

// Ensure that Allowed follows the §3.3 table for every state.
func TestAllowed(t *testing.T) {
	// Columns: none, PreActive, Active, Deactivated, Compromised,
	// Destroyed, DestroyedCompromised, unknown state 7.
	states := [8]kmip.State{none, pre, act, deac, comp, dest, dcmp, bad}
	table := []struct {
		op   kmip.Operation
		want [8]kmip.ResultReason
	}{
		{kmip.OperationGet, [8]kmip.ResultReason{ok, ok, ok, ok, ok, od, od, wk}},
		{kmip.OperationExport, [8]kmip.ResultReason{ok, ok, ok, ok, ok, od, od, wk}},
		{kmip.OperationGetAttributes, [8]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok, ok}},
		{kmip.OperationGetAttributeList, [8]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok, ok}},
		{kmip.OperationLocate, [8]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok, ok}},
		{kmip.OperationActivate, [8]kmip.ResultReason{ok, ok, wk, wk, wk, wk, wk, wk}},
		{kmip.OperationRevoke, [8]kmip.ResultReason{ok, ok, ok, ok, wk, ok, wk, wk}},
		{kmip.OperationDestroy, [8]kmip.ResultReason{ok, ok, wk, ok, ok, od, od, wk}},
		{kmip.OperationEncrypt, [8]kmip.ResultReason{ok, wk, ok, wk, wk, wk, wk, wk}},
		{kmip.OperationSign, [8]kmip.ResultReason{ok, wk, ok, wk, wk, wk, wk, wk}},
		{kmip.OperationMAC, [8]kmip.ResultReason{ok, wk, ok, wk, wk, wk, wk, wk}},
		{kmip.OperationDecrypt, [8]kmip.ResultReason{ok, wk, ok, wk, wk, wk, wk, wk}},
		{kmip.OperationSignatureVerify, [8]kmip.ResultReason{ok, wk, ok, wk, wk, wk, wk, wk}},
		{kmip.OperationMACVerify, [8]kmip.ResultReason{ok, wk, ok, wk, wk, wk, wk, wk}},
		// Derive Key: a Pre-Active base too (it makes a new object).
		{kmip.OperationDeriveKey, [8]kmip.ResultReason{ok, ok, ok, wk, wk, wk, wk, wk}},
		{kmip.OperationAddAttribute, [8]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok, wk}},
		{kmip.OperationModifyAttribute, [8]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok, wk}},
		{kmip.OperationCheck, [8]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok, wk}},
		{kmip.OperationReKey, [8]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok, wk}},
		// Certify: a Pre-Active or Active public key; Re-certify and
		// Validate: a certificate that still has its value.
		{kmip.OperationCertify, [8]kmip.ResultReason{ok, ok, ok, wk, wk, wk, wk, wk}},
		{kmip.OperationReCertify, [8]kmip.ResultReason{ok, ok, ok, ok, ok, od, od, wk}},
		{kmip.OperationValidate, [8]kmip.ResultReason{ok, ok, ok, ok, ok, od, od, wk}},
	}
	listed := map[kmip.Operation]bool{}
	for _, row := range table {
		listed[row.op] = true
		for i, s := range states {
			if r := reason(t, lifecycle.Allowed(row.op, s)); r != row.want[i] {
				t.Errorf("Allowed(%v, %v) = %v, want %v", row.op, s, r, row.want[i])
			}
		}
	}
	// Every other operation carries no restriction in a known state.
	for op := kmip.OperationCreate; op <= kmip.OperationPing; op++ {
		if listed[op] {
			continue
		}
		for _, s := range states[:7] {
			if err := lifecycle.Allowed(op, s); err != nil {
				t.Errorf("Allowed(%v, %v) = %v, want nil", op, s, err)
			}
		}
	}
}

// Ensure that Wrong Key Lifecycle State messages use the specification's
// words for operations, states and events, never the CamelCase names of
// the Go constants.
func TestStateMessages(t *testing.T) {
	msg := func(err error) string {
		t.Helper()
		var ke *kmip.Error
		if !errors.As(err, &ke) || ke.Reason != wk {
			t.Fatalf("got %v, want %s", err, wk)
		}
		return ke.Message
	}
	_, revokePre := lifecycle.Transition(pre, lifecycle.EventRevokeOther)
	_, destroyActive := lifecycle.Transition(act, lifecycle.EventDestroy)
	_, activateDead := lifecycle.Transition(dcmp, lifecycle.EventActivate)
	cases := []struct {
		err  error
		want string
	}{
		{lifecycle.Allowed(kmip.OperationDeriveKey, deac),
			"Derive Key is not permitted on an object in state Deactivated (it needs Pre-Active or Active)"},
		{lifecycle.Allowed(kmip.OperationMACVerify, pre),
			"MAC Verify is not permitted on an object in state Pre-Active (it needs Active)"},
		{lifecycle.Allowed(kmip.OperationActivate, dcmp),
			"Activate is not permitted on an object in state Destroyed Compromised (it needs Pre-Active)"},
		{lifecycle.Allowed(kmip.OperationDestroy, act),
			"Destroy is not permitted on an object in state Active: Revoke it first (any reason deactivates it), then Destroy"},
		{revokePre,
			"Revoke with a reason other than Key Compromise or CA Compromise is not permitted on an object in state Pre-Active: an object that was never activated is destroyed directly, or revoked with Key Compromise"},
		{destroyActive,
			"Destroy is not permitted on an object in state Active: Revoke it first (any reason deactivates it), then Destroy"},
		{activateDead,
			"Activate is not permitted on an object in state Destroyed Compromised: only a Pre-Active object can be activated"},
		{lifecycle.AllowedChange(ttlv.TagActivationDate, act),
			"Activation Date cannot change on an object in state Active"},
	}
	internal := []string{"PreActive", "DestroyedCompromised", "RevokeOther", "RevokeCompromise", "DeriveKey",
		"MACVerify", "ActivationDate", "EventDestroy", "Event("}
	for _, c := range cases {
		got := msg(c.err)
		if got != c.want {
			t.Errorf("message %q\n want %q", got, c.want)
		}
		for _, name := range internal {
			if strings.Contains(got, name) {
				t.Errorf("message %q contains the internal name %q", got, name)
			}
		}
	}
}

// Ensure that date attributes change only in the states §3.2 permits.
func TestAllowedChange(t *testing.T) {
	states := [7]kmip.State{none, pre, act, deac, comp, dest, dcmp}
	table := []struct {
		tag  ttlv.Tag
		want [7]kmip.ResultReason
	}{
		{ttlv.TagActivationDate, [7]kmip.ResultReason{ok, ok, wk, wk, wk, wk, wk}},
		{ttlv.TagDeactivationDate, [7]kmip.ResultReason{ok, ok, ok, wk, wk, wk, wk}},
		{ttlv.TagProcessStartDate, [7]kmip.ResultReason{ok, ok, ok, wk, wk, wk, wk}},
		{ttlv.TagProtectStopDate, [7]kmip.ResultReason{ok, ok, ok, wk, wk, wk, wk}},
		{ttlv.TagName, [7]kmip.ResultReason{ok, ok, ok, ok, ok, ok, ok}},
	}
	for _, row := range table {
		for i, s := range states {
			if r := reason(t, lifecycle.AllowedChange(row.tag, s)); r != row.want[i] {
				t.Errorf("AllowedChange(%v, %v) = %v, want %v", row.tag, s, r, row.want[i])
			}
		}
	}
}

// Ensure that Revoke reasons map to the right event.
func TestRevokeEvent(t *testing.T) {
	cases := map[kmip.RevocationReasonCode]lifecycle.Event{
		kmip.RevocationReasonCodeKeyCompromise:        lifecycle.EventRevokeCompromise,
		kmip.RevocationReasonCodeCACompromise:         lifecycle.EventRevokeCompromise,
		kmip.RevocationReasonCodeUnspecified:          lifecycle.EventRevokeOther,
		kmip.RevocationReasonCodeSuperseded:           lifecycle.EventRevokeOther,
		kmip.RevocationReasonCodeCessationOfOperation: lifecycle.EventRevokeOther,
	}
	for code, want := range cases {
		if got := lifecycle.RevokeEvent(code); got != want {
			t.Errorf("RevokeEvent(%v) = %v, want %v", code, got, want)
		}
	}
	if s := lifecycle.EventDestroy.String(); s != "Destroy" {
		t.Errorf("String = %q", s)
	}
	if s := lifecycle.Event(42).String(); s != "Event(42)" {
		t.Errorf("String = %q", s)
	}
}

// Ensure that Effective applies the date rules, and changes State only.
func TestEffective(t *testing.T) {
	now := time.Unix(1_700_000_000, 500_000_000) // mid-second
	sec := now.Unix()
	const unset = int64(-1 << 62)
	cases := []struct {
		name       string
		state      kmip.State
		activation int64
		deact      int64
		want       kmip.State
	}{
		{"activation past", pre, sec - 10, unset, act},
		{"activation future", pre, sec + 10, unset, pre},
		{"activation equal now", pre, sec, unset, act},
		{"activation next second", pre, sec + 1, unset, pre},
		{"no activation date", pre, unset, unset, pre},
		{"deactivation passed", act, sec - 100, sec - 1, deac},
		{"deactivation equal now", act, sec - 100, sec, deac},
		{"deactivation future", act, sec - 100, sec + 1, act},
		{"active without dates", act, unset, unset, act},
		{"both passed", pre, sec - 100, sec - 1, deac},
		{"activation future, deactivation past", pre, sec + 100, sec - 1, pre},
		{"deactivation past, no activation", pre, unset, sec - 1, pre},
		{"deactivated stays", deac, sec - 100, sec + 100, deac},
		{"destroyed untouched", dest, sec - 100, sec - 1, dest},
		{"destroyed compromised untouched", dcmp, sec - 100, sec - 1, dcmp},
		{"compromised untouched", comp, sec - 100, sec - 1, comp},
		{"no state untouched", none, sec - 100, sec - 1, none},
	}
	for _, c := range cases {
		o := objects.New("id", kmip.ObjectTypeSymmetricKey, "o")
		if c.state != none {
			o.SetState(c.state)
		}
		if c.activation != unset {
			o.SetDate(ttlv.TagActivationDate, c.activation)
		}
		if c.deact != unset {
			o.SetDate(ttlv.TagDeactivationDate, c.deact)
		}
		o.Add(objects.NameAttr("n", kmip.NameTypeUninterpretedTextString))
		before := o.Clone()

		changed := lifecycle.Effective(o, now)
		if got := o.State(); got != c.want || changed != (c.want != c.state) {
			t.Errorf("%s: state %v, changed %v; want %v, %v", c.name, got, changed, c.want, c.want != c.state)
		}
		// Nothing but State changed, and State has one instance.
		if len(o.Attrs) != len(before.Attrs) {
			t.Errorf("%s: attribute count %d, was %d", c.name, len(o.Attrs), len(before.Attrs))
			continue
		}
		for i := range o.Attrs {
			a, b := o.Attrs[i], before.Attrs[i]
			if a.Tag != b.Tag || a.Tag != ttlv.TagState && !bytes.Equal(a.Raw, b.Raw) {
				t.Errorf("%s: attribute %d changed from %v to %v", c.name, i, b.Tag, a.Tag)
			}
		}
		if c.state != none && o.Count(ttlv.TagState) != 1 {
			t.Errorf("%s: %d State instances", c.name, o.Count(ttlv.TagState))
		}
		// Applying it again changes nothing.
		if lifecycle.Effective(o, now) {
			t.Errorf("%s: second Effective changed the state", c.name)
		}
	}
}
