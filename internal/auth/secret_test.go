package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/auth"
)

func TestNewSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		gen    func() (string, string, string, error)
		format *regexp.Regexp
	}{
		{"api key", auth.NewAPIKey, regexp.MustCompile(`^phx_[a-z2-7]{52}$`)},
		{"enrollment token", auth.NewEnrollmentToken, regexp.MustCompile(`^phxa_[a-z2-7]{52}$`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			seen := make(map[string]bool)
			for range 1000 {
				secret, prefix, hash, err := c.gen()
				require.NoError(t, err)
				require.Regexp(t, c.format, secret)
				require.Len(t, prefix, auth.DisplayPrefixLen)
				require.Equal(t, secret[:12], prefix)
				sum := sha256.Sum256([]byte(secret))
				require.Equal(t, hex.EncodeToString(sum[:]), hash)
				require.Equal(t, hash, auth.HashSecret(secret))
				require.False(t, seen[secret], "secrets repeat")
				seen[secret] = true
			}
		})
	}
}

func TestHashSecretIsStableAndDistinct(t *testing.T) {
	t.Parallel()
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", auth.HashSecret(""))
	require.Equal(t, auth.HashSecret("phx_a"), auth.HashSecret("phx_a"))
	require.NotEqual(t, auth.HashSecret("phx_a"), auth.HashSecret("phx_b"))
}
