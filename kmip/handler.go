package kmip

import (
	"crypto/sha256"
	"crypto/x509"
	"net"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// Identity is the client as proven by its verified TLS certificate.
type Identity struct {
	Name        string   // subject Common Name: the owner of the objects it creates
	OUs         []string // subject Organizational Units, kept for policy
	DNSNames    []string // SANs, kept for policy
	Emails      []string
	URIs        []string
	Fingerprint [32]byte // SHA-256 of the certificate, for the audit trail
}

// IdentityFromCert derives an Identity from a verified client certificate.
func IdentityFromCert(c *x509.Certificate) Identity {
	id := Identity{
		Name:        c.Subject.CommonName,
		OUs:         c.Subject.OrganizationalUnit,
		DNSNames:    c.DNSNames,
		Emails:      c.EmailAddresses,
		Fingerprint: sha256.Sum256(c.Raw),
	}
	for _, u := range c.URIs {
		id.URIs = append(id.URIs, u.String())
	}
	return id
}

// Call is one batch item being served. The server reuses one Call per
// connection, so handlers must not keep it after they return.
type Call struct {
	Identity   *Identity
	RemoteAddr net.Addr
	Request    *Request
	Item       *BatchItem
	Version    Version   // the request's protocol version: answer in it
	Now        time.Time // when the request was received
	Batch      *Batch
}

// Batch is state shared by the items of one request.
type Batch struct {
	// IDPlaceholder is the Unique Identifier left by the last operation that
	// sets it (KMIP 2.0 §6.1), for later items that omit theirs.
	IDPlaceholder string
	// Tx is the handler's transaction when the whole batch runs in one
	// (Batch Error Continuation Undo); nil otherwise.
	Tx any
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
