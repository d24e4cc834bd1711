package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"unicode"

	"github.com/kmipd/kmipd/kmip"
)

// The kinds of failure that exitCode (root.go) maps onto exit statuses.

// usageError is a mistake in the command line: flags, arguments, values.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return usageError{fmt.Sprintf(format, a...)}
}

// connError is a failure to reach the server or to set up TLS.
type connError struct{ err error }

func (e connError) Error() string { return e.err.Error() }
func (e connError) Unwrap() error { return e.err }

// opError names the operation (and object) a failure belongs to:
//
//	get 1234: object not found (KMIP ObjectNotFound)
type opError struct {
	op, id string
	err    error
}

func (e *opError) Error() string {
	s := e.op
	if e.id != "" {
		s += " " + e.id
	}
	return s + ": " + describe(e.err)
}

func (e *opError) Unwrap() error { return e.err }

// failed wraps err, if any, with the operation and object it belongs to.
// Usage errors are returned as they are.
func failed(op, id string, err error) error {
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		return err
	}
	return &opError{op: op, id: id, err: err}
}

// describe words an error for people: a KMIP failure as its reason in
// words and its name, followed by the server's message when that says
// more than the reason does.
func describe(err error) string {
	var ke *kmip.Error
	if !errors.As(err, &ke) {
		return err.Error()
	}
	words := reasonWords(ke.Reason)
	s := words + " (KMIP " + ke.Reason.String() + ")"
	if ke.Message != "" && !containsWords(ke.Message, words) {
		s += ": " + ke.Message
	}
	if ke.RequestID != "" {
		// The server's logs and audit trail name the request by it.
		s += " [request " + ke.RequestID + "]"
	}
	return s
}

// reasonWords turns a Result Reason name into lower-case words:
// ObjectNotFound → "object not found", InvalidCSR → "invalid CSR".
func reasonWords(r kmip.ResultReason) string {
	name := r.String()
	if strings.HasPrefix(name, "0x") {
		return "result reason " + name
	}
	var words []string
	rs := []rune(name)
	start := 0
	flush := func(end int) {
		if end > start {
			words = append(words, string(rs[start:end]))
		}
		start = end
	}
	for i := 1; i < len(rs); i++ {
		switch {
		case rs[i] == '_':
			flush(i)
			start = i + 1
		case unicode.IsUpper(rs[i]) && unicode.IsLower(rs[i-1]),
			unicode.IsUpper(rs[i]) && i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]),
			unicode.IsDigit(rs[i]) != unicode.IsDigit(rs[i-1]) && rs[i-1] != '_':
			flush(i)
		}
	}
	flush(len(rs))
	for i, w := range words {
		if strings.ToUpper(w) != w || len(w) == 1 {
			words[i] = strings.ToLower(w)
		}
	}
	return strings.Join(words, " ")
}

// containsWords reports whether every word of words occurs in msg,
// ignoring case.
func containsWords(msg, words string) bool {
	m := strings.ToLower(msg)
	for _, w := range strings.Fields(strings.ToLower(words)) {
		if !strings.Contains(m, w) {
			return false
		}
	}
	return true
}

// isUsage reports a command-line mistake, including cobra's own.
func isUsage(err error) bool {
	var ue usageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag")
}

// isNotFound reports a KMIP failure saying the object (or the attribute)
// does not exist. KMIP 1.x servers say Item Not Found.
func isNotFound(err error) bool {
	var ke *kmip.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke.Reason {
	case kmip.ResultReasonObjectNotFound, kmip.ResultReasonItemNotFound,
		kmip.ResultReasonAttributeNotFound, kmip.ResultReasonAttributeInstanceNotFound:
		return true
	}
	return false
}

// isKMIPFailure reports an operation the server answered with a failure.
func isKMIPFailure(err error) bool {
	var ke *kmip.Error
	return errors.As(err, &ke)
}

// isConnFailure reports a failure to connect, to complete the TLS
// handshake (certificates) or to exchange messages with the server.
func isConnFailure(err error) bool {
	var (
		ce  connError
		ope *net.OpError
		dne *net.DNSError
		ae  tls.AlertError
		rhe tls.RecordHeaderError
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ope), errors.As(err, &dne), errors.As(err, &ae), errors.As(err, &rhe),
		errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		return true
	}
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, os.ErrDeadlineExceeded, syscall.ECONNREFUSED,
		syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// readInput reads a file named on the command line ("-": standard input);
// a file that cannot be read is a usage error.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return data, nil
}
