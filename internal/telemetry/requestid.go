package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// RequestIDHeader is the HTTP header that carries a request ID in both
// directions.
const RequestIDHeader = "X-Request-ID"

// MaxRequestIDLen is the longest request ID accepted from a client.
const MaxRequestIDLen = 128

type requestIDKey struct{}

// WithRequestID returns a copy of ctx carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID carried by ctx, or "" when there is none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestID returns a new request ID: 16 random bytes in lowercase hex.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never returns an error since Go 1.24
	return hex.EncodeToString(b[:])
}

// ValidRequestID reports whether id, typically from a client's X-Request-ID
// header, may be used as is: 1 to [MaxRequestIDLen] characters of
// [A-Za-z0-9._-]. Anything else (which could forge log lines or bloat them)
// is replaced by a new ID.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
