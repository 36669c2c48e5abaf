// Package apierror is the one error type of the Phoenix API: a stable code,
// a message for people, optional details (such as the bad fields of a
// request) and the HTTP status it maps to. Handlers return errors; one
// function in package api turns any error into a response with From.
package apierror

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Code is a stable, machine-readable error code.
type Code string

// Error codes of the API.
const (
	CodeValidation   Code = "VALIDATION_ERROR"
	CodeNotFound     Code = "NOT_FOUND"
	CodeConflict     Code = "CONFLICT"
	CodePrecondition Code = "PRECONDITION_FAILED"
	CodeInternal     Code = "INTERNAL_ERROR"
	CodeUnauthorized Code = "UNAUTHORIZED"
	CodeForbidden    Code = "FORBIDDEN"
	CodeRateLimited  Code = "RATE_LIMITED"
	CodeUnavailable  Code = "UNAVAILABLE"
	CodeTooLarge     Code = "PAYLOAD_TOO_LARGE"
	CodeUnsupported  Code = "UNSUPPORTED_MEDIA_TYPE"
)

var statusOf = map[Code]int{
	CodeValidation:   http.StatusBadRequest,
	CodeNotFound:     http.StatusNotFound,
	CodeConflict:     http.StatusConflict,
	CodePrecondition: http.StatusPreconditionFailed,
	CodeInternal:     http.StatusInternalServerError,
	CodeUnauthorized: http.StatusUnauthorized,
	CodeForbidden:    http.StatusForbidden,
	CodeRateLimited:  http.StatusTooManyRequests,
	CodeUnavailable:  http.StatusServiceUnavailable,
	CodeTooLarge:     http.StatusRequestEntityTooLarge,
	CodeUnsupported:  http.StatusUnsupportedMediaType,
}

// FieldError names one bad field of a request by its JSON path.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the API's error. Its JSON form is the body of every error
// response: {"error": {"code": ..., "message": ..., "details": ...}}.
type Error struct {
	Code    Code           `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
	// Fields lists each bad field of a validation error.
	Fields []FieldError `json:"fields,omitempty"`
	// Status is the HTTP status; 0 means the code's default.
	Status int `json:"-"`
	// Err is the underlying cause; it is logged, never sent.
	Err error `json:"-"`
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	b.WriteString(": ")
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus returns the status code the error maps to.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if s, ok := statusOf[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// New returns an error with a code and a message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns e with one more detail.
func (e *Error) WithDetail(key string, value any) *Error {
	if e.Details == nil {
		e.Details = make(map[string]any)
	}
	e.Details[key] = value
	return e
}

// Validation returns a VALIDATION_ERROR listing each bad field, sorted by
// field path.
func Validation(fields ...FieldError) *Error {
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	msg := "request is invalid"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	} else if len(fields) > 1 {
		msg = fmt.Sprintf("request is invalid: %d fields", len(fields))
	}
	return &Error{Code: CodeValidation, Message: msg, Fields: fields}
}

// NotFound returns a NOT_FOUND error for a kind of resource and its id.
func NotFound(kind, id string) *Error {
	return New(CodeNotFound, "%s %q not found", kind, id)
}

// Internal wraps an unexpected error; the message sent is generic, the
// cause is kept for the log.
func Internal(err error) *Error {
	return &Error{Code: CodeInternal, Message: "internal error", Err: err}
}

// From returns err as an *Error: itself when it is one (or wraps one),
// otherwise an INTERNAL_ERROR wrapping it.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}
