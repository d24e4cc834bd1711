package authn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

var testParams = HashParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := HashPassword([]byte(pw), testParams)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashPasswordFormat(t *testing.T) {
	h := mustHash(t, "pw")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("PHC string %q", h)
	}
	if h2 := mustHash(t, "pw"); h2 == h {
		t.Fatal("two hashes of one password share their salt")
	}
	p, err := parsePHC(h)
	if err != nil || !p.verify([]byte("pw")) || p.verify([]byte("pW")) {
		t.Fatalf("parse/verify: %v", err)
	}
	for _, bad := range []string{
		"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if CheckPasswordHash(bad) == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestNewPasswordsRefuses(t *testing.T) {
	h := mustHash(t, "pw")
	for _, users := range [][]User{
		{{Name: "", PasswordHash: h, Certificates: []string{"a"}}},
		{{Name: "u", PasswordHash: "plain", Certificates: []string{"a"}}},
		{{Name: "u", PasswordHash: h}},
		{{Name: "u", PasswordHash: h, Certificates: []string{"a"}}, {Name: "u", PasswordHash: h, Certificates: []string{"b"}}},
	} {
		if _, err := NewPasswords(users, PasswordOptions{}); err == nil {
			t.Errorf("accepted %+v", users)
		}
	}
}

func reason(err error) kmip.ResultReason {
	r, _ := kmip.ResultOf(err)
	return r
}

// The failure window ends; a successful check is cached for its key only.
func TestPasswordsLimiterAndCache(t *testing.T) {
	p, err := NewPasswords([]User{{Name: "u", PasswordHash: mustHash(t, "pw"), Certificates: []string{"a"}}},
		PasswordOptions{MaxFailures: 2, FailureWindow: time.Minute, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, now := context.Background(), time.Unix(1e9, 0)
	for range 2 {
		if _, err := p.Verify(ctx, "a", []byte("u"), []byte("x"), now); reason(err) != kmip.ResultReasonAuthenticationNotSuccessful {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := p.Verify(ctx, "a", []byte("u"), []byte("pw"), now); err == nil {
		t.Fatal("locked out certificate accepted")
	}
	name, err := p.Verify(ctx, "a", []byte("u"), []byte("pw"), now.Add(time.Minute))
	if err != nil || name != "u" {
		t.Fatalf("after the window: %q %v", name, err)
	}
	if !p.cached(p.entryKey("a", []byte("u"), []byte("pw")), now.Add(time.Minute+time.Second)) {
		t.Fatal("success not cached")
	}
	if p.cached(p.entryKey("a", []byte("u"), []byte("pW")), now.Add(time.Minute)) {
		t.Fatal("another password hits the cache")
	}
	if p.cached(p.entryKey("a", []byte("u"), []byte("pw")), now.Add(3*time.Minute)) {
		t.Fatal("cache entry outlived its TTL")
	}
}

func TestTickets(t *testing.T) {
	ts := NewTickets(TicketOptions{MaxTicketsPerIdentity: 2, DefaultLease: time.Minute, MaxLease: time.Hour})
	now := time.Unix(1e9, 0)
	id := kmip.Identity{Name: "alice"}
	v, err := ts.Issue(Grant{Identity: id, Peer: "alice", Lease: 100 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.Use(v, "alice", now.Add(time.Hour-time.Second)); err != nil {
		t.Fatalf("within the capped lease: %v", err)
	}
	if _, _, err := ts.Use(v, "alice", now.Add(time.Hour)); reason(err) != kmip.ResultReasonInvalidTicket {
		t.Fatalf("past the capped lease: %v", err)
	}
	v1, _ := ts.Issue(Grant{Identity: id, Peer: "alice"}, now)
	if _, err := ts.Issue(Grant{Identity: id, Peer: "alice"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Issue(Grant{Identity: id, Peer: "alice"}, now); reason(err) != kmip.ResultReasonPermissionDenied {
		t.Fatalf("third ticket of one identity: %v", err)
	}
	if _, err := ts.Issue(Grant{Identity: id, Peer: "alice"}, now.Add(time.Minute)); err != nil {
		t.Fatalf("after the default lease ended: %v", err)
	}
	if err := ts.Revoke(v1, "bob", now); reason(err) != kmip.ResultReasonInvalidTicket {
		t.Fatalf("revoke from another certificate: %v", err)
	}
}

func call(op kmip.Operation, placeholder string, payload func(b *ttlv.Builder)) *kmip.Call {
	var b ttlv.Builder
	b.Reset(nil, 0)
	b.Begin(ttlv.TagRequestPayload)
	if payload != nil {
		payload(&b)
	}
	b.End()
	msg, _ := b.Bytes()
	v := ttlv.Value(msg)
	it, _ := v.Next()
	return &kmip.Call{Version: kmip.V2_0, Item: &kmip.BatchItem{Operation: op, Payload: it.Children()}, Batch: &kmip.Batch{IDPlaceholder: placeholder}}
}

func TestRightsPermit(t *testing.T) {
	r := &Rights{Rights: []Right{
		{Operations: []kmip.Operation{kmip.OperationQuery}},
		{Operations: []kmip.Operation{kmip.OperationGet, kmip.OperationActivate}, Objects: []string{"k1"}},
	}}
	id := func(s string) func(b *ttlv.Builder) {
		return func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, s) }
	}
	for _, tc := range []struct {
		c    *kmip.Call
		want bool
	}{
		{call(kmip.OperationQuery, "", nil), true},
		{call(kmip.OperationGet, "", id("k1")), true},
		{call(kmip.OperationGet, "", id("k2")), false},
		{call(kmip.OperationActivate, "k1", nil), true},
		{call(kmip.OperationActivate, "k2", nil), false},
		{call(kmip.OperationGet, "", nil), false},
		{call(kmip.OperationCreate, "", nil), false},
		{call(kmip.OperationLogout, "", nil), true},
	} {
		err := r.Permit(tc.c)
		if (err == nil) != tc.want {
			t.Errorf("%s: %v, want allowed=%v", tc.c.Item.Operation, err, tc.want)
		} else if err != nil && reason(err) != kmip.ResultReasonNotAuthorized {
			t.Errorf("%s: %v", tc.c.Item.Operation, err)
		}
	}
}

// Guesses sent at once from one certificate are held to the failure limit:
// those that waited for a verification slot check the lock again.
func TestPasswordsLimiterConcurrent(t *testing.T) {
	p, err := NewPasswords([]User{{Name: "u", PasswordHash: mustHash(t, "pw"), Certificates: []string{"a"}}},
		PasswordOptions{MaxFailures: 3, FailureWindow: time.Minute, MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	p.sem <- struct{}{} // every guess queues behind this slot
	const guesses = 40
	errs := make(chan error, guesses)
	for range guesses {
		go func() {
			_, err := p.Verify(context.Background(), "a", []byte("u"), []byte("guess"), now)
			errs <- err
		}()
	}
	time.Sleep(100 * time.Millisecond) // all past the first lock check
	<-p.sem
	checked := 0
	for range guesses {
		if err := <-errs; err != nil && !strings.Contains(err.Error(), "too many failed") {
			checked++
		}
	}
	if checked > 3 {
		t.Fatalf("%d of %d concurrent guesses were verified; the limit is 3", checked, guesses)
	}
}
