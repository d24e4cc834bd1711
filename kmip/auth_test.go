package kmip_test

import (
	"errors"
	"io"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

type fakeAuth struct {
	name   string
	err    error
	rights kmip.Rights
	calls  int
}

func (a *fakeAuth) Authenticate(r *kmip.Auth) error {
	a.calls++
	if a.err != nil {
		return a.err
	}
	var cred ttlv.Value
	if !r.Authentication.ReadStructure(ttlv.TagCredential, &cred) {
		return errors.New("no Credential")
	}
	r.Identity = *r.Peer
	r.Identity.Name = a.name
	r.Rights = a.rights
	return nil
}

type denyOp kmip.Operation

func (d denyOp) Permit(c *kmip.Call) error {
	if c.Item.Operation == kmip.Operation(d) {
		return kmip.Errorf(kmip.ResultReasonNotAuthorized, "denied")
	}
	return nil
}

// authServe runs a two-item request (Query, Get) through a Session and
// returns the response and the identities the handler saw.
func authServe(t *testing.T, a kmip.Authenticator, cred bool) (*kmip.Response, []string) {
	t.Helper()
	var seen []string
	h := kmip.HandlerFunc(func(c *kmip.Call, w *ttlv.Builder) error {
		seen = append(seen, c.Identity.Name+"/"+c.Peer.Name)
		return nil
	})
	srv := &kmip.Server{Handler: h, Authenticator: a, Logger: zerolog.New(io.Discard)}
	sess := srv.NewSession(kmip.Identity{Name: "cert"}, nil)
	var rw kmip.RequestWriter
	o := &kmip.RequestOptions{}
	if cred {
		o.Authentication = kmip.PasswordCredential("user", "pw")
	}
	rw.Begin(nil, kmip.V2_0, 2, o)
	rw.Item(kmip.OperationQuery, []byte{1}, nil)
	rw.Item(kmip.OperationGet, []byte{2}, nil)
	msg, err := rw.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var resp kmip.Response
	if err := resp.Parse(append([]byte(nil), srv.Handle(sess, msg)...), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != 2 {
		t.Fatalf("%d items", len(resp.Items))
	}
	return &resp, seen
}

func TestAuthenticator(t *testing.T) {
	a := &fakeAuth{name: "user"}
	_, seen := authServe(t, a, true)
	if len(seen) != 2 || seen[0] != "user/cert" || seen[1] != "user/cert" {
		t.Errorf("with a credential the handler saw %v", seen)
	}
	_, seen = authServe(t, a, false)
	if a.calls != 1 || len(seen) != 2 || seen[0] != "cert/cert" {
		t.Errorf("without a credential: %d calls, the handler saw %v", a.calls, seen)
	}
	_, seen = authServe(t, nil, true)
	if len(seen) != 2 || seen[0] != "cert/cert" {
		t.Errorf("without an Authenticator the handler saw %v", seen)
	}

	resp, seen := authServe(t, &fakeAuth{err: kmip.Errorf(kmip.ResultReasonAuthenticationNotSuccessful, "no")}, true)
	if len(seen) != 0 {
		t.Errorf("a refused request was served: %v", seen)
	}
	for _, it := range resp.Items {
		if it.Status != kmip.ResultStatusOperationFailed || it.Reason != kmip.ResultReasonAuthenticationNotSuccessful {
			t.Errorf("item %x: %v %v", it.ID, it.Status, it.Reason)
		}
	}

	resp, seen = authServe(t, &fakeAuth{name: "user", rights: denyOp(kmip.OperationGet)}, true)
	if len(seen) != 1 || resp.Items[0].Status != kmip.ResultStatusSuccess || resp.Items[1].Reason != kmip.ResultReasonNotAuthorized {
		t.Errorf("rights: served %v, items %+v", seen, resp.Items)
	}

	resp, _ = authServe(t, &fakeAuth{name: " bad"}, true)
	if resp.Items[0].Reason != kmip.ResultReasonAuthenticationNotSuccessful {
		t.Errorf("an invalid identity name: %v", resp.Items[0].Reason)
	}
}
