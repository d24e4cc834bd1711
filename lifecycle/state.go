package lifecycle

import (
	"strconv"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// The key lifecycle state machine (KMIP 2.0 §4.50, identical in 2.1 §4.57;
// ../shared/guide/kmip-facts.md §3.1–3.3). It is pure: it decides, the
// operations apply and persist.

// Event is something that may move an object from one State to another.
type Event uint8

// The events of KMIP 2.0 §4.50. The numbers in the comments are the
// specification's transitions.
const (
	// EventCreate brings a new object into existence: (none) → Pre-Active
	// (#1). Create, Create Key Pair, Register, Derive Key, Re-key... An
	// Activation Date already reached then makes it Active (see Effective).
	EventCreate Event = iota + 1
	// EventActivate is the Activate operation: Pre-Active → Active (#4).
	EventActivate
	// EventActivationDateReached: the Activation Date is now or past
	// (reached by time, or set so by Modify/Set Attribute): Pre-Active →
	// Active (#4).
	EventActivationDateReached
	// EventDeactivationDateReached: the Deactivation Date is now or past:
	// Active → Deactivated (#6).
	EventDeactivationDateReached
	// EventRevokeCompromise is Revoke with reason Key Compromise or CA
	// Compromise: Pre-Active, Active, Deactivated → Compromised (#3, #5,
	// #8); Destroyed → Destroyed Compromised (#10).
	EventRevokeCompromise
	// EventRevokeOther is Revoke with any other reason: Active →
	// Deactivated (#6).
	EventRevokeOther
	// EventDestroy is the Destroy operation (or destruction by server
	// policy): Pre-Active, Deactivated → Destroyed (#2, #7); Compromised →
	// Destroyed Compromised (#9).
	EventDestroy
)

var eventNames = [...]string{
	EventCreate:                  "Create",
	EventActivate:                "Activate",
	EventActivationDateReached:   "ActivationDateReached",
	EventDeactivationDateReached: "DeactivationDateReached",
	EventRevokeCompromise:        "RevokeCompromise",
	EventRevokeOther:             "RevokeOther",
	EventDestroy:                 "Destroy",
}

func (e Event) String() string {
	if int(e) < len(eventNames) && eventNames[e] != "" {
		return eventNames[e]
	}
	return "Event(" + strconv.Itoa(int(e)) + ")"
}

// RevokeEvent returns the event a Revoke with reason code r causes: Key
// Compromise and CA Compromise compromise the object (KMIP 2.0 §6.1.40),
// every other reason deactivates it.
func RevokeEvent(r kmip.RevocationReasonCode) Event {
	if r == kmip.RevocationReasonCodeKeyCompromise || r == kmip.RevocationReasonCodeCACompromise {
		return EventRevokeCompromise
	}
	return EventRevokeOther
}

// transitions is the whole table of KMIP 2.0 §4.50: "Only the transitions
// described above are permitted."
var transitions = [...]struct {
	from kmip.State
	ev   Event
	to   kmip.State
}{
	{0, EventCreate, kmip.StatePreActive},                                        // #1
	{kmip.StatePreActive, EventDestroy, kmip.StateDestroyed},                     // #2
	{kmip.StatePreActive, EventRevokeCompromise, kmip.StateCompromised},          // #3
	{kmip.StatePreActive, EventActivate, kmip.StateActive},                       // #4
	{kmip.StatePreActive, EventActivationDateReached, kmip.StateActive},          // #4
	{kmip.StateActive, EventRevokeCompromise, kmip.StateCompromised},             // #5
	{kmip.StateActive, EventDeactivationDateReached, kmip.StateDeactivated},      // #6
	{kmip.StateActive, EventRevokeOther, kmip.StateDeactivated},                  // #6
	{kmip.StateDeactivated, EventDestroy, kmip.StateDestroyed},                   // #7
	{kmip.StateDeactivated, EventRevokeCompromise, kmip.StateCompromised},        // #8
	{kmip.StateCompromised, EventDestroy, kmip.StateDestroyedCompromised},        // #9
	{kmip.StateDestroyed, EventRevokeCompromise, kmip.StateDestroyedCompromised}, // #10
}

// Transition returns the state an object in state s moves to on event ev.
//
// Anything the table lacks fails with Wrong Key Lifecycle State (KMIP 2.0
// §11.45; the server translates it to Permission Denied for 1.x clients),
// including a non-compromise Revoke of a Pre-Active or Deactivated object
// (no such transition exists), a second compromise Revoke of a Compromised
// object (no Compromised → Compromised transition, so it is refused rather
// than silently accepted), and any event in an unknown state.
//
// The one exception is Destroy of an object already destroyed (Destroyed or
// Destroyed Compromised): it fails with Object Destroyed, as the guide's
// §3.3 table has it and as Get of a destroyed object does (BL-M-8-21), which
// tells the client precisely why.
func Transition(s kmip.State, ev Event) (kmip.State, error) {
	for _, t := range transitions {
		if t.from == s && t.ev == ev {
			return t.to, nil
		}
	}
	if ev == EventDestroy && destroyed(s) {
		return s, kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is already destroyed")
	}
	return s, kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "%s is not permitted on an object in state %s%s", eventAction(ev), kmip.SpecName(s.String()), stateHint(ev, s))
}

// eventAction names what the client asked for that causes ev, in the
// specification's words.
func eventAction(ev Event) string {
	switch ev {
	case EventActivate:
		return "Activate"
	case EventRevokeCompromise:
		return "Revoke with reason Key Compromise or CA Compromise"
	case EventRevokeOther:
		return "Revoke with a reason other than Key Compromise or CA Compromise"
	case EventDestroy:
		return "Destroy"
	case EventActivationDateReached:
		return "Reaching the Activation Date"
	case EventDeactivationDateReached:
		return "Reaching the Deactivation Date"
	}
	return ev.String()
}

// stateHint says what the client can do instead, for the refusals clients
// meet most (KMIP 2.0 §4.57's transitions).
func stateHint(ev Event, s kmip.State) string {
	switch {
	case ev == EventRevokeOther && s == kmip.StatePreActive:
		return ": an object that was never activated is destroyed directly, or revoked with Key Compromise"
	case ev == EventRevokeOther && s == kmip.StateDeactivated:
		return ": it is already deactivated"
	case ev == EventDestroy && s == kmip.StateActive:
		return ": Revoke it first (any reason deactivates it), then Destroy"
	case ev == EventActivate && s != kmip.StatePreActive:
		return ": only a Pre-Active object can be activated"
	}
	return ""
}

func destroyed(s kmip.State) bool {
	return s == kmip.StateDestroyed || s == kmip.StateDestroyedCompromised
}

// Effective applies the date rules at access time (KMIP 2.0 §4.50 #4 and
// #6): a Pre-Active object whose Activation Date is at or before now
// becomes Active, and an Active object (including one just activated so)
// whose Deactivation Date is at or before now becomes Deactivated. Dates
// are compared in whole seconds, the resolution of a Date-Time. Only State
// changes; it reports whether it did, so the caller can persist the object.
//
// Objects in other states, and objects without a State, are untouched: a
// Compromised object stays Compromised whatever its dates, and there is no
// Pre-Active → Deactivated transition, so a Pre-Active object whose
// Deactivation Date has passed but whose Activation Date has not (or is
// absent) stays Pre-Active.
func Effective(o *objects.Object, now time.Time) (changed bool) {
	s0 := o.State()
	s := s0
	t := now.Unix()
	if s == kmip.StatePreActive {
		if d, ok := o.Date(ttlv.TagActivationDate); ok && d <= t {
			s, _ = Transition(s, EventActivationDateReached)
		}
	}
	if s == kmip.StateActive {
		if d, ok := o.Date(ttlv.TagDeactivationDate); ok && d <= t {
			s, _ = Transition(s, EventDeactivationDateReached)
		}
	}
	if s == s0 {
		return false
	}
	o.SetState(s)
	return true
}

// errState is the Wrong Key Lifecycle State error for op in state s; need
// names the states op accepts, for the message.
func errState(op kmip.Operation, s kmip.State, need ...kmip.State) error {
	msg := kmip.SpecName(op.String()) + " is not permitted on an object in state " + kmip.SpecName(s.String())
	for i, n := range need {
		switch {
		case i == 0:
			msg += " (it needs "
		case i == len(need)-1:
			msg += " or "
		default:
			msg += ", "
		}
		msg += kmip.SpecName(n.String())
	}
	if len(need) > 0 {
		msg += ")"
	}
	return kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "%s", msg)
}

// stateRule names the lifecycle states an operation may act on: the
// states column of the operation table (operations.go), applied by Allowed.
type stateRule uint8

// The state rules (the guide's §3.3 table, from KMIP 2.0 §4.50 and the
// §6.1 error tables).
const (
	// anyKnownState: no restriction in a known state (the zero rule, of
	// every operation not given another).
	anyKnownState stateRule = iota
	// anyState: every state, unknown ones too (Get Attributes, Get
	// Attribute List, Locate).
	anyState
	// notDestroyed: every state but Destroyed and Destroyed Compromised,
	// which fail with Object Destroyed (BL-M-8-21) (Get, Export).
	notDestroyed
	// preActiveOnly: Pre-Active only (Activate).
	preActiveOnly
	// revocable: Pre-Active, Active, Deactivated and Destroyed, the states
	// some Revoke may leave; whether the particular reason may is decided by
	// Transition with RevokeEvent(reason) (Revoke).
	revocable
	// destroyable: Pre-Active, Deactivated and Compromised (transition #9;
	// the AKLC-M-2 test destroys a compromised key although §6.1.15 names
	// only Pre-Active and Deactivated); Active fails with Wrong Key
	// Lifecycle State; Destroyed and Destroyed Compromised with Object
	// Destroyed (Destroy).
	destroyable
	// activeOnly: Active only (Encrypt, Sign, MAC, which apply protection,
	// and Decrypt, Signature Verify, MAC Verify, which process protected
	// data). KMIP allows processing with a Deactivated or Compromised key
	// "under extraordinary circumstances" for trusted clients; kmipd denies
	// it by default. The Process Start and Protect Stop Date windows and
	// usage limits are the operation's to check.
	activeOnly
	// preActiveOrActive: the base object must be Pre-Active or Active
	// (Derive Key). Derivation neither protects nor processes data with the
	// base object; it makes a new Pre-Active object, which is itself subject
	// to the lifecycle. PyKMIP's suite and its server derive from
	// registered, never activated Secret Data; a Deactivated, Compromised or
	// Destroyed base is refused (Wrong Key Lifecycle State, in Derive Key's
	// error table).
	preActiveOrActive
)

// Allowed reports whether operation op may act on an object in state s,
// by the state rule of op's row in the operation table (see stateRule).
//
// Operations without a rule, and operations kmipd does not serve, carry no
// state restriction here. Refusals other than Object Destroyed are Wrong
// Key Lifecycle State. State 0 means the object has no State attribute; no
// lifecycle applies to it and Allowed returns nil. An unknown state is
// refused for everything but the anyState operations (Get Attributes, Get
// Attribute List and Locate).
func Allowed(op kmip.Operation, s kmip.State) error {
	rule := anyKnownState
	if o := byOp[op]; o != nil {
		rule = o.states
	}
	if rule == anyState {
		return nil
	}
	if s == 0 {
		return nil
	}
	if s > kmip.StateDestroyedCompromised {
		return errState(op, s)
	}
	switch rule {
	case notDestroyed:
		if destroyed(s) {
			return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed")
		}
	case preActiveOnly:
		if s != kmip.StatePreActive {
			return errState(op, s, kmip.StatePreActive)
		}
	case revocable:
		if s == kmip.StateCompromised || s == kmip.StateDestroyedCompromised {
			return errState(op, s)
		}
	case destroyable:
		switch {
		case destroyed(s):
			return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is already destroyed")
		case s == kmip.StateActive:
			_, err := Transition(s, EventDestroy) // one wording, with its hint
			return err
		}
	case activeOnly:
		if s != kmip.StateActive {
			return errState(op, s, kmip.StateActive)
		}
	case preActiveOrActive:
		if s != kmip.StateActive && s != kmip.StatePreActive {
			return errState(op, s, kmip.StatePreActive, kmip.StateActive)
		}
	}
	return nil
}

// AllowedChange reports whether a client may add, set, modify or delete the
// date attribute tag of an object in state s (KMIP 2.0 §4.1, §4.18 and the
// Process Start / Protect Stop Date sections; guide §3.2–3.3): Activation
// Date only while Pre-Active; Deactivation Date, Process Start Date and
// Protect Stop Date only while Pre-Active or Active (that the latter two
// must also not have been reached yet is for the caller, which knows the
// time). Refusals are Wrong Key Lifecycle State (SKLC-M-3-21). Other
// attributes, and objects without a State (s == 0), have no state
// restriction here.
func AllowedChange(tag ttlv.Tag, s kmip.State) error {
	ok := true
	if s == 0 {
		return nil
	}
	switch tag {
	case ttlv.TagActivationDate:
		ok = s == kmip.StatePreActive
	case ttlv.TagDeactivationDate, ttlv.TagProcessStartDate, ttlv.TagProtectStopDate:
		ok = s == kmip.StatePreActive || s == kmip.StateActive
	}
	if ok {
		return nil
	}
	name, _ := ttlv.TagSpecName(tag)
	return kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "%s cannot change on an object in state %s", name, kmip.SpecName(s.String()))
}

// transition loads the object named by the payload's Unique Identifier,
// applies fn and saves it, answering with the Unique Identifier.
func (s *Service) transition(c *kmip.Call, w *ttlv.Builder, fn func(o *objects.Object) error) error {
	var u kmip.UniqueID
	v := c.Item.Payload
	if err := kmip.ReadUniqueID(&v, &u); err != nil {
		return err
	}
	return s.transitionID(c, w, u, fn)
}

func (s *Service) transitionID(c *kmip.Call, w *ttlv.Builder, u kmip.UniqueID, fn func(o *objects.Object) error) error {
	_, err := s.updateObject(c, w, u, func(_ *store.Tx, o *objects.Object) (bool, error) { return true, fn(o) })
	return err
}

// updateObject changes the object u names in one transaction and answers
// with its identifier: fn changes o and says whether it did, and a changed
// object gets a new Last Change Date and is saved.
func (s *Service) updateObject(c *kmip.Call, w *ttlv.Builder, u kmip.UniqueID, fn func(tx *store.Tx, o *objects.Object) (bool, error)) (string, error) {
	id, err := resolveID(c, u)
	if err != nil {
		return "", err
	}
	err = s.update(c, func(tx *store.Tx) error {
		o, err := s.load(tx, c, id, true)
		if err != nil {
			return err
		}
		if changed, err := fn(tx, o); err != nil || !changed {
			return err
		}
		o.SetDate(ttlv.TagLastChangeDate, now(c))
		return s.save(tx, o)
	})
	if err != nil {
		return "", err
	}
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return id, nil
}
