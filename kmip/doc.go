// Package kmip is the KMIP protocol, and only the protocol: request and
// response messages and their payloads (message.go, payloads*.go), the
// protocol versions and what each has (version.go, the generated
// zenums.go, attrinfo.go), the server loop over mutual TLS with its limits
// (server*.go, session.go, http.go for KMIP over HTTPS), the Handler
// interface and its ServeMux (handler.go), and a client (client.go).
//
// It knows nothing of storage or key material: a Handler, such as
// kmipd's lifecycle.Service, serves the operations. Each batch item
// reaches the handler as a Call, whose Ctx the server cancels when a
// Shutdown's grace period ends, and whose RequestID (requestid.go) names
// the request message in logs, the audit trail and the Result Message of
// a failed item.
package kmip
