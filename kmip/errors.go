package kmip

import (
	"errors"
	"fmt"
)

// Error is a KMIP failure: it becomes a batch item with Result Status
// Operation Failed, this Result Reason and Message as Result Message.
type Error struct {
	Reason  ResultReason
	Message string
	Err     error // optional cause, never sent to the client
	// RequestID is the id a kmipd server gave the request, taken off the
	// end of the Result Message by ResponseItem.Err (client side).
	RequestID string
}

func (e *Error) Error() string {
	s := "kmip: " + e.Reason.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error with the same Reason, so errors.Is(err,
// ErrPermissionDenied) holds for any Permission Denied error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Err == nil && t.Reason == e.Reason
}

// Errorf returns an *Error with a formatted message.
func Errorf(reason ResultReason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is; they carry only a reason.
var (
	ErrItemNotFound          = &Error{Reason: ResultReasonItemNotFound}
	ErrObjectNotFound        = &Error{Reason: ResultReasonObjectNotFound}
	ErrPermissionDenied      = &Error{Reason: ResultReasonPermissionDenied}
	ErrInvalidMessage        = &Error{Reason: ResultReasonInvalidMessage}
	ErrInvalidField          = &Error{Reason: ResultReasonInvalidField}
	ErrOperationNotSupported = &Error{Reason: ResultReasonOperationNotSupported}
	ErrResponseTooLarge      = &Error{Reason: ResultReasonResponseTooLarge}
)

// ResultOf maps any error onto the wire: a *Error keeps its reason, anything
// else is General Failure with a generic message, so internal details never
// reach a client. It is the one place where errors become Result Reasons.
func ResultOf(err error) (ResultReason, string) {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Reason, ke.Message
	}
	var re interface{ ResultReason() uint32 }
	if errors.As(err, &re) {
		return ResultReason(re.ResultReason()), err.Error()
	}
	return ResultReasonGeneralFailure, "internal error"
}
