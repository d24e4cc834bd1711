package kmip

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kmipd/kmipd/ttlv"
)

// Identity is the client as proven by its verified TLS certificate.
type Identity struct {
	// Name owns the objects the client creates. It comes from the
	// certificate field the server's IdentitySource names and always
	// satisfies ValidIdentityName.
	Name        string
	OUs         []string // subject Organizational Units, kept for policy
	DNSNames    []string // SANs, kept for policy
	Emails      []string
	URIs        []string
	Fingerprint [32]byte // SHA-256 of the certificate, for the audit trail
}

// IdentitySource names the client certificate field an identity comes from.
type IdentitySource string

// Identity sources. Each must name exactly one value: a certificate with
// several (subject CN=bob, CN=admin; two SAN URIs) is refused rather than
// resolved, since any choice lets a CA-issued name impersonate another.
const (
	IdentityCN          IdentitySource = "cn"          // the subject Common Name (default)
	IdentitySANURI      IdentitySource = "san-uri"     // the URI subject alternative name
	IdentitySANEmail    IdentitySource = "san-email"   // the e-mail subject alternative name
	IdentityFingerprint IdentitySource = "fingerprint" // hex SHA-256 of the certificate (DER)
)

// ParseIdentitySource accepts "" (meaning cn) and the four source names.
func ParseIdentitySource(s string) (IdentitySource, bool) {
	switch src := IdentitySource(s); src {
	case "", IdentityCN:
		return IdentityCN, true
	case IdentitySANURI, IdentitySANEmail, IdentityFingerprint:
		return src, true
	}
	return "", false
}

// MaxIdentityLen is the longest identity name, in bytes.
const MaxIdentityLen = 256

// IdentityError is why a certificate yields no identity. Reason is a short
// fixed label for metrics and the audit trail.
type IdentityError struct {
	Reason string // no_identity, ambiguous_identity, invalid_identity
	Msg    string
}

func (e *IdentityError) Error() string { return "kmip: client identity: " + e.Msg }

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// IdentityFromCertificate derives the Identity of a verified client
// certificate, its Name from src. It fails when the field is missing,
// appears more than once, or is not a valid identity (ValidIdentityName).
func IdentityFromCertificate(c *x509.Certificate, src IdentitySource) (Identity, error) {
	id := Identity{
		OUs:         c.Subject.OrganizationalUnit,
		DNSNames:    c.DNSNames,
		Emails:      c.EmailAddresses,
		Fingerprint: sha256.Sum256(c.Raw),
	}
	for _, u := range c.URIs {
		id.URIs = append(id.URIs, u.String())
	}
	var (
		values []string
		what   string
	)
	switch src {
	case "", IdentityCN:
		what = "subject common name (CN)"
		// Subject.CommonName keeps only the last CN: count them all.
		for _, a := range c.Subject.Names {
			if a.Type.Equal(oidCommonName) {
				v, ok := a.Value.(string)
				if !ok {
					return id, &IdentityError{"invalid_identity", "subject common name is not a string"}
				}
				values = append(values, v)
			}
		}
	case IdentitySANURI:
		what, values = "URI subject alternative name", id.URIs
	case IdentitySANEmail:
		what, values = "e-mail subject alternative name", c.EmailAddresses
	case IdentityFingerprint:
		what, values = "fingerprint", []string{hex.EncodeToString(id.Fingerprint[:])}
	default:
		return id, &IdentityError{"no_identity", fmt.Sprintf("unknown identity source %q", src)}
	}
	switch len(values) {
	case 0:
		return id, &IdentityError{"no_identity", "the certificate has no " + what}
	case 1:
	default:
		return id, &IdentityError{"ambiguous_identity", fmt.Sprintf("the certificate has %d values of its %s: it must have one", len(values), what)}
	}
	if err := ValidIdentityName(values[0]); err != nil {
		shown := values[0]
		if len(shown) > 64 {
			shown = shown[:64] + "..."
		}
		return id, &IdentityError{"invalid_identity", fmt.Sprintf("%s %q: %v", what, shown, err)}
	}
	id.Name = values[0]
	return id, nil
}

// IdentityFromCert derives an Identity from the subject Common Name of a
// verified client certificate; Name is empty when IdentityFromCertificate
// refuses it.
func IdentityFromCert(c *x509.Certificate) Identity {
	id, err := IdentityFromCertificate(c, IdentityCN)
	if err != nil {
		id.Name = ""
	}
	return id
}

// ValidIdentityName checks the rule for identity names, which own objects
// and appear in logs and the audit trail, so that two identities never look
// alike: valid UTF-8, 1 to MaxIdentityLen bytes, no control character
// (U+0000–U+001F, U+007F–U+009F) and no white space at either end.
func ValidIdentityName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > MaxIdentityLen:
		return fmt.Errorf("longer than %d bytes", MaxIdentityLen)
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			return fmt.Errorf("control character %U", r)
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return errors.New("white space at the start or end")
	}
	return nil
}

// Call is one batch item being served. The server reuses one Call per
// connection, so handlers must not keep it after they return.
type Call struct {
	// Ctx is the request's context: the server cancels it when Shutdown's
	// grace period ends, so store and key-backend waits give up. A Batcher
	// may replace it for the items of its batch (and must restore it).
	Ctx context.Context
	// Identity is who the request acts as: the client certificate's
	// identity (Peer), or the one a credential in the request header
	// proved (Authenticator).
	Identity *Identity
	// Peer is the identity of the verified client certificate.
	Peer *Identity
	// Rights, when not nil, restrict the request further (a delegated
	// ticket); the server checks them before the Handler runs.
	Rights     Rights
	RemoteAddr net.Addr
	Request    *Request
	Item       *BatchItem
	Version    Version   // the request's protocol version: answer in it
	Now        time.Time // when the request was received
	Batch      *Batch
	// RequestID names the request message in logs, the audit trail and
	// the Result Message of failed items (zero in a Call built by hand).
	RequestID RequestID

	sess *Session // for BecomeEndpoint
}

// Context returns c.Ctx, or context.Background() when it is nil (a Call
// built by hand).
func (c *Call) Context() context.Context {
	if c.Ctx == nil {
		return context.Background()
	}
	return c.Ctx
}

// Batch is state shared by the items of one request.
type Batch struct {
	// IDPlaceholder is the Unique Identifier left by the last operation that
	// sets it (KMIP 2.0 §6.1), for later items that omit theirs.
	IDPlaceholder string
}

// Handler serves batch items. ServeKMIP writes the children of the Response
// Payload into w and returns nil, or returns an error, in which case
// whatever it wrote is discarded and the item fails with the Result Reason
// ResultOf(err) gives.
type Handler interface {
	ServeKMIP(c *Call, w *ttlv.Builder) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(c *Call, w *ttlv.Builder) error

// ServeKMIP calls f.
func (f HandlerFunc) ServeKMIP(c *Call, w *ttlv.Builder) error { return f(c, w) }

// Batcher is implemented by handlers that can run a whole batch in one
// transaction. The server uses it for Batch Error Continuation Undo: fn
// serves every item and returns an error when one failed, and RunBatch must
// then roll back everything the batch did (KMIP 2.0 §9.6).
type Batcher interface {
	RunBatch(c *Call, fn func() error) error
}

// ServeMux dispatches batch items by Operation. An operation with no
// handler fails with Operation Not Supported.
type ServeMux struct {
	m map[Operation]Handler
}

// NewServeMux returns an empty ServeMux.
func NewServeMux() *ServeMux { return &ServeMux{m: make(map[Operation]Handler)} }

// Handle registers h for op.
func (mux *ServeMux) Handle(op Operation, h Handler) { mux.m[op] = h }

// HandleFunc registers f for op.
func (mux *ServeMux) HandleFunc(op Operation, f func(c *Call, w *ttlv.Builder) error) {
	mux.m[op] = HandlerFunc(f)
}

// Operations lists the registered operations (for Query).
func (mux *ServeMux) Operations() []Operation {
	ops := make([]Operation, 0, len(mux.m))
	for op := range mux.m {
		ops = append(ops, op)
	}
	return ops
}

// Supports reports whether op has a handler.
func (mux *ServeMux) Supports(op Operation) bool { _, ok := mux.m[op]; return ok }

// ServeKMIP dispatches c to the handler of its operation.
func (mux *ServeMux) ServeKMIP(c *Call, w *ttlv.Builder) error {
	h, ok := mux.m[c.Item.Operation]
	if !ok {
		return Errorf(ResultReasonOperationNotSupported, "operation %s is not supported", c.Item.Operation)
	}
	return h.ServeKMIP(c, w)
}

// IsExtension reports whether op is a vendor (extension) operation: its
// value has the high bit set (KMIP 2.0 §10.1.1.3).
func (op Operation) IsExtension() bool { return op&0x8000_0000 != 0 }
