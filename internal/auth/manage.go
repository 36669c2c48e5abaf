package auth

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/store"
)

// Limits on the fields of keys and tokens.
const (
	// MaxNameLen is the longest name of a key or token, in characters.
	MaxNameLen = 100
	// MaxLabels is the most labels an enrollment token carries.
	MaxLabels = 32
	// MaxLabelKeyLen is the longest label key, in bytes.
	MaxLabelKeyLen = 63
	// MaxLabelValueLen is the longest label value, in characters.
	MaxLabelValueLen = 256
)

// APIKeyCreator is the part of [store.Store] that [CreateAPIKey] uses.
type APIKeyCreator interface {
	APIKeyCreate(ctx context.Context, p *store.APIKeyCreateParams) (*store.APIKey, error)
}

// EnrollmentTokenCreator is the part of [store.Store] that
// [CreateEnrollmentToken] uses.
type EnrollmentTokenCreator interface {
	EnrollmentTokenCreate(ctx context.Context, p *store.EnrollmentTokenCreateParams) (*store.EnrollmentToken, error)
}

// CreateAPIKey creates an API key of the tenant and returns its secret, to be
// shown once, and the stored key. The name (trimmed) must be 1 to
// [MaxNameLen] printable characters, the role one of admin, editor and viewer,
// and expiresAt, when set, in the future. Bad input is a VALIDATION_ERROR
// naming each bad field ("name", "role", "expires_at"); store errors are
// returned wrapped.
func CreateAPIKey(ctx context.Context, st APIKeyCreator, tenantID, name, role, createdBy string, expiresAt *time.Time) (string, *store.APIKey, error) {
	name = strings.TrimSpace(name)
	var bad []apierror.FieldError
	bad = append(bad, checkName(name)...)
	if !validRole(role) {
		bad = append(bad, apierror.FieldError{Field: "role", Message: fmt.Sprintf("%q is not one of admin, editor, viewer", role)})
	}
	bad = append(bad, checkExpiry(expiresAt, time.Now())...)
	if len(bad) > 0 {
		return "", nil, apierror.Validation(bad...)
	}
	secret, prefix, hash, err := NewAPIKey()
	if err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	k, err := st.APIKeyCreate(ctx, &store.APIKeyCreateParams{
		TenantID:  tenantID,
		Name:      name,
		Prefix:    prefix,
		Hash:      hash,
		Role:      role,
		CreatedBy: createdBy,
		ExpiresAt: utc(expiresAt),
	})
	if err != nil {
		return "", nil, fmt.Errorf("create api key %q: %w", name, err)
	}
	return secret, k, nil
}

// CreateEnrollmentToken creates an agent enrollment token of the tenant and
// returns its secret, to be shown once, and the stored token. The name is
// checked as for [CreateAPIKey]; labels may number at most [MaxLabels], with
// keys of 1 to [MaxLabelKeyLen] characters from [A-Za-z0-9._/-] starting with
// a letter or digit, and printable values of at most [MaxLabelValueLen]
// characters. Bad input is a VALIDATION_ERROR naming each bad field ("name",
// "expires_at", "labels", "labels.<key>").
func CreateEnrollmentToken(ctx context.Context, st EnrollmentTokenCreator, tenantID, name, createdBy string, labels map[string]string, expiresAt *time.Time) (string, *store.EnrollmentToken, error) {
	name = strings.TrimSpace(name)
	var bad []apierror.FieldError
	bad = append(bad, checkName(name)...)
	bad = append(bad, checkLabels(labels)...)
	bad = append(bad, checkExpiry(expiresAt, time.Now())...)
	if len(bad) > 0 {
		return "", nil, apierror.Validation(bad...)
	}
	secret, prefix, hash, err := NewEnrollmentToken()
	if err != nil {
		return "", nil, fmt.Errorf("create enrollment token: %w", err)
	}
	tok, err := st.EnrollmentTokenCreate(ctx, &store.EnrollmentTokenCreateParams{
		TenantID:  tenantID,
		Name:      name,
		Prefix:    prefix,
		Hash:      hash,
		Labels:    maps.Clone(labels),
		CreatedBy: createdBy,
		ExpiresAt: utc(expiresAt),
	})
	if err != nil {
		return "", nil, fmt.Errorf("create enrollment token %q: %w", name, err)
	}
	return secret, tok, nil
}

func checkName(name string) []apierror.FieldError {
	switch {
	case name == "":
		return []apierror.FieldError{{Field: "name", Message: "is required"}}
	case !utf8.ValidString(name):
		return []apierror.FieldError{{Field: "name", Message: "must be valid UTF-8"}}
	case utf8.RuneCountInString(name) > MaxNameLen:
		return []apierror.FieldError{{Field: "name", Message: fmt.Sprintf("must be at most %d characters", MaxNameLen)}}
	case strings.IndexFunc(name, notPrintable) >= 0:
		return []apierror.FieldError{{Field: "name", Message: "must not contain control characters"}}
	}
	return nil
}

func checkExpiry(expiresAt *time.Time, now time.Time) []apierror.FieldError {
	if expiresAt != nil && !expiresAt.After(now) {
		return []apierror.FieldError{{Field: "expires_at", Message: "must be in the future"}}
	}
	return nil
}

func checkLabels(labels map[string]string) []apierror.FieldError {
	if len(labels) > MaxLabels {
		return []apierror.FieldError{{Field: "labels", Message: fmt.Sprintf("must have at most %d entries, has %d", MaxLabels, len(labels))}}
	}
	var bad []apierror.FieldError
	for k, v := range labels {
		if !validLabelKey(k) {
			bad = append(bad, apierror.FieldError{Field: "labels." + sanitize(k),
				Message: fmt.Sprintf("key must be 1 to %d characters of [A-Za-z0-9._/-] starting with a letter or digit", MaxLabelKeyLen)})
			continue
		}
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxLabelValueLen || strings.IndexFunc(v, notPrintable) >= 0 {
			bad = append(bad, apierror.FieldError{Field: "labels." + k,
				Message: fmt.Sprintf("value must be at most %d printable characters", MaxLabelValueLen)})
		}
	}
	return bad
}

func validLabelKey(k string) bool {
	if k == "" || len(k) > MaxLabelKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '/' && c != '-')) {
			return false
		}
	}
	return true
}

// sanitize makes an invalid label key safe to echo in an error message.
func sanitize(k string) string {
	const max = 64
	k = strings.Map(func(r rune) rune {
		if notPrintable(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(k, "?"))
	if utf8.RuneCountInString(k) > max {
		k = string([]rune(k)[:max]) + "..."
	}
	return k
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
