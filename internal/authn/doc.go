// Package authn holds kmipd's client authentication beyond the client
// certificate: Username and Password credentials checked against argon2id
// password hashes (Passwords), the tickets of Login and Delegated Login
// (Tickets, Rights), and the kmip.Authenticator that reads a request
// header's Credential and uses either (Authenticator).
//
// Every credential is checked on top of the verified client certificate,
// never instead of it: a user may be presented only through the
// certificates listed for it, and a ticket only through the certificate
// identity that obtained it.
package authn
