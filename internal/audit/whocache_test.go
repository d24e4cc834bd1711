package audit

import (
	"fmt"
	"net"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// userAuth acts as the Username of a password credential (as kmipd's
// authn.Authenticator does once the password verifies).
type userAuth struct{}

func (userAuth) Authenticate(a *kmip.Auth) error {
	a.Identity = *a.Peer
	v := a.Authentication
	var cred, val ttlv.Value
	var typ uint32
	var name []byte
	if v.ReadStructure(ttlv.TagCredential, &cred) && cred.ReadEnum(ttlv.TagCredentialType, &typ) &&
		cred.ReadStructure(ttlv.TagCredentialValue, &val) && val.ReadText(ttlv.TagUsername, &name) {
		a.Identity.Name = string(name)
	}
	return nil
}

func getAs(t *testing.T, user, id string) []byte {
	t.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, &kmip.RequestOptions{Authentication: kmip.PasswordCredential(user, "pw")})
	w.Item(kmip.OperationGet, nil, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) })
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// Two requests on one connection, authenticated as two users: the session
// reuses its kmip.Auth, so both Calls carry the same *Identity pointer and
// whoCache answers the second with the first user's name.
func TestWhoCache_IdentityPerRequest(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	srv := &kmip.Server{Handler: Wrap(echoHandler{}, tr), Authenticator: userAuth{}}
	sess := srv.NewSession(kmip.Identity{Name: "cert-cn", Fingerprint: [32]byte{1}},
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000})
	users := []string{"bob", "carol", "dave"}
	for i, u := range users {
		id := fmt.Sprintf("k-%d", i)
		if err := served(t, srv.Handle(sess, getAs(t, u, id)), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	recs := trailRecords(t, o)
	if len(recs) != len(users) {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if r.Identity != users[i] {
			t.Errorf("record of %s's request says identity %q", users[i], r.Identity)
		}
	}
}
