package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	// APIKeyPrefix starts every API key secret.
	APIKeyPrefix = "phx_"
	// EnrollmentTokenPrefix starts every agent enrollment token secret.
	EnrollmentTokenPrefix = "phxa_"
	// DisplayPrefixLen is the length of the non-secret start of a secret that
	// is stored and shown to tell credentials apart.
	DisplayPrefixLen = 12

	secretBytes = 32
)

// encoding is lowercase RFC 4648 base32 without padding: secrets are safe in
// URLs, headers and shells, and lack the digits 0, 1, 8 and 9 that read like
// letters.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// secretBodyLen is the number of base32 characters that encode secretBytes.
var secretBodyLen = encoding.EncodedLen(secretBytes)

// NewAPIKey returns a new API key: the secret to hand out once, its display
// prefix and the hash to store.
func NewAPIKey() (secret, prefix, hash string, err error) {
	return newSecret(APIKeyPrefix)
}

// NewEnrollmentToken returns a new agent enrollment token: the secret to hand
// out once, its display prefix and the hash to store.
func NewEnrollmentToken() (secret, prefix, hash string, err error) {
	return newSecret(EnrollmentTokenPrefix)
}

// HashSecret returns the lowercase hex SHA-256 of the whole secret, the form
// in which the store keeps and looks up credentials.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSecret(kind string) (secret, prefix, hash string, err error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", "", fmt.Errorf("generate secret: %w", err)
	}
	secret = kind + encoding.EncodeToString(b[:])
	return secret, secret[:DisplayPrefixLen], HashSecret(secret), nil
}

// wellFormed reports whether s is kind followed by exactly the base32 body of
// a secret. It looks at the characters only, never at the store.
func wellFormed(s, kind string) bool {
	body, ok := strings.CutPrefix(s, kind)
	if !ok || len(body) != secretBodyLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
