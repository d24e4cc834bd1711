package lifecycle_test

import (
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/authn"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// cheapHash is an argon2id hash of password with parameters small enough
// for tests (the server accepts any it can parse).
func cheapHash(t *testing.T, password string) string {
	t.Helper()
	h, err := authn.HashPassword([]byte(password), authn.HashParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newAuthEnv is newEnv with the server's Authenticator: the given users
// and the service's tickets.
func newAuthEnv(t *testing.T, users []authn.User, o authn.PasswordOptions) *env {
	t.Helper()
	le := lifecycletest.New(t, nil)
	pw, err := authn.NewPasswords(users, o)
	if err != nil {
		t.Fatal(err)
	}
	a := &authn.Authenticator{Passwords: pw, Tickets: le.Service.Tickets()}
	p := kmiptest.MustPKI(t, "admin", "alice", "bob")
	return &env{srv: kmiptest.Start(t, p, le.Service, func(s *kmip.Server) { s.Authenticator = a }), db: le.Store, dir: le.Dir}
}

func whoAmI(t *testing.T, c *kmip.Client) (string, error) {
	t.Helper()
	it, err := do(t, c, lifecycle.OperationWhoAmI, nil)
	if err != nil {
		return "", err
	}
	var name []byte
	p := it.Payload
	p.ReadText(lifecycle.TagWhoAmIIdentity, &name)
	return string(name), nil
}

func wantIdentity(t *testing.T, c *kmip.Client, want string) {
	t.Helper()
	got, err := whoAmI(t, c)
	if err != nil || got != want {
		t.Fatalf("identity %q, %v; want %q", got, err, want)
	}
}

var appUsers = func(t *testing.T) []authn.User {
	return []authn.User{{Name: "app1", PasswordHash: cheapHash(t, "secret-1"), Certificates: []string{"alice"}}}
}

// A Username and Password credential makes the request act as the user,
// only from a certificate listed for it; a wrong password, an unknown user
// or an unlisted certificate fail the whole request with Authentication
// Not Successful and nothing of it is done.
func TestPasswordCredential(t *testing.T) {
	e := newAuthEnv(t, appUsers(t), authn.PasswordOptions{})
	for _, ver := range []kmip.Version{kmip.V1_2, kmip.V2_0} {
		alice := e.srv.Dial(t, "alice", ver)
		wantIdentity(t, alice, "alice")
		alice.Authentication = kmip.PasswordCredential("app1", "secret-1")
		wantIdentity(t, alice, "app1")
		id := create(t, alice, "")
		alice.Authentication = nil
		_, err := do(t, alice, kmip.OperationGet, byID(id))
		if err == nil {
			t.Fatalf("%s: the certificate's identity reads the user's object", ver)
		}

		bob := e.srv.Dial(t, "bob", ver)
		bob.Authentication = kmip.PasswordCredential("app1", "secret-1")
		_, err = whoAmI(t, bob)
		wantReason(t, err, kmip.ResultReasonAuthenticationNotSuccessful)

		for _, cred := range [][2]string{{"app1", "wrong"}, {"nobody", "secret-1"}, {"app1", ""}} {
			alice.Authentication = kmip.PasswordCredential(cred[0], cred[1])
			_, _, err = alice.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
				symAttrs(ver, kmip.CryptographicAlgorithmAES, 256, "refused-"+ver.String(), nil)(b)
			})
			wantReason(t, err, kmip.ResultReasonAuthenticationNotSuccessful)
		}
		alice.Authentication = kmip.PasswordCredential("app1", "secret-1")
		it, err := do(t, alice, kmip.OperationLocate, func(b *ttlv.Builder) {
			if ver.V2() {
				b.Begin(ttlv.TagAttributes)
				b.Begin(ttlv.TagName)
				b.AddText(ttlv.TagNameValue, "refused-"+ver.String())
				b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
				b.End()
				b.End()
				return
			}
			attr1(b, "Name", func() {
				b.Begin(ttlv.TagAttributeValue)
				b.AddText(ttlv.TagNameValue, "refused-"+ver.String())
				b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
				b.End()
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, found := it.Payload.Find(ttlv.TagUniqueIdentifier); found {
			t.Fatalf("%s: a refused request created an object", ver)
		}
	}
}

// Without configured users a password credential is ignored, as before:
// the request acts as its certificate's identity.
func TestPasswordCredentialWithoutUsers(t *testing.T) {
	e := newAuthEnv(t, nil, authn.PasswordOptions{})
	c := e.srv.Dial(t, "alice", kmip.V1_4)
	c.Authentication = kmip.PasswordCredential("one-time-user", "one-time-password")
	wantIdentity(t, c, "alice")
}

// After MaxFailures wrong passwords from one certificate identity, even the
// right one is refused from it until the window ends; other certificates
// are not affected.
func TestPasswordBruteForceLimit(t *testing.T) {
	users := []authn.User{{Name: "app1", PasswordHash: cheapHash(t, "secret-1"), Certificates: []string{"alice", "bob"}}}
	e := newAuthEnv(t, users, authn.PasswordOptions{MaxFailures: 3, FailureWindow: time.Hour})
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	for range 3 {
		alice.Authentication = kmip.PasswordCredential("app1", "guess")
		_, err := whoAmI(t, alice)
		wantReason(t, err, kmip.ResultReasonAuthenticationNotSuccessful)
	}
	alice.Authentication = kmip.PasswordCredential("app1", "secret-1")
	_, err := whoAmI(t, alice)
	wantReason(t, err, kmip.ResultReasonAuthenticationNotSuccessful)
	alice.Authentication = nil
	wantIdentity(t, alice, "alice")
	bob := e.srv.Dial(t, "bob", kmip.V2_0)
	bob.Authentication = kmip.PasswordCredential("app1", "secret-1")
	wantIdentity(t, bob, "app1")
}

func login(t *testing.T, c *kmip.Client, op kmip.Operation, count int32, rights func(b *ttlv.Builder)) []byte {
	t.Helper()
	it, err := do(t, c, op, func(b *ttlv.Builder) {
		b.AddInterval(ttlv.TagLeaseTime, 0)
		b.AddInt32(ttlv.TagRequestCount, count)
		if rights != nil {
			rights(b)
		}
	})
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	var tk ttlv.Value
	var typ uint32
	var v []byte
	p := it.Payload
	if !p.ReadStructure(ttlv.TagTicket, &tk) || !tk.ReadEnum(ttlv.TagTicketType, &typ) || !tk.ReadBytes(ttlv.TagTicketValue, &v) ||
		kmip.TicketType(typ) != kmip.TicketTypeLogin || len(v) < 16 {
		t.Fatalf("%s response %s", op, ttlv.Format(it.Payload))
	}
	return v
}

func logout(c *kmip.Client, v []byte) error {
	_, _, err := c.Do(kmip.OperationLogout, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagTicket)
		b.AddEnum(ttlv.TagTicketType, uint32(kmip.TicketTypeLogin))
		b.AddBytes(ttlv.TagTicketValue, v)
		b.End()
	})
	return err
}

// A Login ticket authenticates as the identity that logged in (here a
// password user), only from the same certificate identity, within its
// Request Count, until Logout.
func TestLoginTicket(t *testing.T) {
	e := newAuthEnv(t, appUsers(t), authn.PasswordOptions{})
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	alice.Authentication = kmip.PasswordCredential("app1", "secret-1")
	v := login(t, alice, kmip.OperationLogin, 0, nil)
	alice.Authentication = kmip.TicketCredential(v)
	wantIdentity(t, alice, "app1")
	wantIdentity(t, alice, "app1")

	bob := e.srv.Dial(t, "bob", kmip.V2_0)
	bob.Authentication = kmip.TicketCredential(v)
	_, err := whoAmI(t, bob)
	wantReason(t, err, kmip.ResultReasonInvalidTicket)
	wantReason(t, logout(bob, v), kmip.ResultReasonInvalidTicket)

	if err := logout(alice, v); err != nil {
		t.Fatal(err)
	}
	_, err = whoAmI(t, alice)
	wantReason(t, err, kmip.ResultReasonInvalidTicket)
	alice.Authentication = kmip.TicketCredential(make([]byte, 32))
	_, err = whoAmI(t, alice)
	wantReason(t, err, kmip.ResultReasonInvalidTicket)

	alice.Authentication = nil
	v = login(t, alice, kmip.OperationLogin, 2, nil)
	alice.Authentication = kmip.TicketCredential(v)
	wantIdentity(t, alice, "alice")
	wantIdentity(t, alice, "alice")
	_, err = whoAmI(t, alice)
	wantReason(t, err, kmip.ResultReasonUsageLimitExceeded)
}

// A Delegated Login ticket allows only the operations and objects of its
// Rights (Not Authorized otherwise) and cannot log in again.
func TestDelegatedLoginRights(t *testing.T) {
	e := newAuthEnv(t, nil, authn.PasswordOptions{})
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	k0, k1 := create(t, alice, ""), create(t, alice, "")
	v := login(t, alice, kmip.OperationDelegatedLogin, 0, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagRights)
		b.Begin(ttlv.TagRight)
		b.Begin(ttlv.TagOperations)
		b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationQuery))
		b.AddEnum(ttlv.TagOperation, uint32(lifecycle.OperationWhoAmI))
		b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationLogin))
		b.End()
		b.End()
		b.Begin(ttlv.TagRight)
		b.Begin(ttlv.TagOperations)
		b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationGetAttributes))
		b.End()
		b.Begin(ttlv.TagObjects)
		b.AddText(ttlv.TagUniqueIdentifier, k0)
		b.End()
		b.End()
		b.End()
	})
	alice.Authentication = kmip.TicketCredential(v)
	wantIdentity(t, alice, "alice")
	if _, err := do(t, alice, kmip.OperationGetAttributes, byID(k0)); err != nil {
		t.Fatal(err)
	}
	_, err := do(t, alice, kmip.OperationGet, byID(k0))
	wantReason(t, err, kmip.ResultReasonNotAuthorized)
	_, err = do(t, alice, kmip.OperationGetAttributes, byID(k1))
	wantReason(t, err, kmip.ResultReasonNotAuthorized)
	_, err = do(t, alice, kmip.OperationDestroy, byID(k0))
	wantReason(t, err, kmip.ResultReasonNotAuthorized)
	_, err = do(t, alice, kmip.OperationLogin, nil)
	wantReason(t, err, kmip.ResultReasonNotAuthorized)
	alice.Authentication = nil
	if _, err := do(t, alice, kmip.OperationGet, byID(k0)); err != nil {
		t.Fatalf("without the ticket: %v", err)
	}
	for _, op := range []kmip.Operation{kmip.OperationLogin, kmip.OperationLogout, kmip.OperationDelegatedLogin} {
		if !lifecycle.ReadOnly(op) {
			t.Errorf("%s is not read-only", op)
		}
	}
}

// A Right limited to objects covers only items that act on those objects:
// not items that name no object (Create, Locate) even after an earlier item
// of the batch left a listed object as the ID Placeholder, nor an object
// named under another tag or nested in a structure.
func TestDelegatedLoginRights_ObjectsOnly(t *testing.T) {
	e := newAuthEnv(t, nil, authn.PasswordOptions{})
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	k0, k1 := create(t, alice, ""), create(t, alice, "")
	v := login(t, alice, kmip.OperationDelegatedLogin, 0, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagRights)
		b.Begin(ttlv.TagRight)
		b.Begin(ttlv.TagObjects)
		b.AddText(ttlv.TagUniqueIdentifier, k0)
		b.End()
		b.End()
		b.End()
	})
	opts := &kmip.RequestOptions{Authentication: kmip.TicketCredential(v),
		BatchErrorContinuation: kmip.BatchErrorContinuationOptionContinue}
	items := aoBatch(t, alice, opts,
		aoItem{kmip.OperationExport, byID(k0)}, // allowed; leaves k0 as the ID Placeholder
		aoItem{kmip.OperationLocate, func(*ttlv.Builder) {}},
		aoItem{kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 128, "", nil)(b)
		}},
		aoItem{kmip.OperationGetAttributes, func(*ttlv.Builder) {}}, // the placeholder, k0: allowed
		aoItem{kmip.OperationReKeyKeyPair, func(b *ttlv.Builder) { b.AddText(ttlv.TagPrivateKeyUniqueIdentifier, k1) }},
		aoItem{kmip.OperationGet, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, k0)
			b.Begin(ttlv.TagKeyWrappingSpecification)
			b.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
			b.Begin(ttlv.TagEncryptionKeyInformation)
			b.AddText(ttlv.TagUniqueIdentifier, k1)
			b.End()
			b.End()
		}},
	)
	want := []kmip.ResultReason{0, kmip.ResultReasonNotAuthorized, kmip.ResultReasonNotAuthorized, 0,
		kmip.ResultReasonNotAuthorized, kmip.ResultReasonNotAuthorized}
	for i, it := range items {
		if want[i] == 0 {
			if it.Status != kmip.ResultStatusSuccess {
				t.Errorf("item %d (%s): %s %q, want success", i, it.Operation, it.Reason, it.Message)
			}
		} else if it.Status == kmip.ResultStatusSuccess || it.Reason != want[i] {
			t.Errorf("item %d (%s): %s %s, want %s", i, it.Operation, it.Status, it.Reason, want[i])
		}
	}
}
