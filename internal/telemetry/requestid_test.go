package telemetry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/telemetry"
)

func TestNewRequestID(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 1000 {
		id := telemetry.NewRequestID()
		require.Regexp(t, `^[0-9a-f]{32}$`, id)
		require.True(t, telemetry.ValidRequestID(id))
		require.False(t, seen[id])
		seen[id] = true
	}
}

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id   string
		want bool
	}{
		{"abc", true},
		{"A-b_c.9", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"a b", false},
		{"a\nb", false},
		{`a"b`, false},
		{"a/b", false},
		{"é", false},
		{"id=1;drop", false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, telemetry.ValidRequestID(c.id), "%q", c.id)
	}
}

func TestRequestIDContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	require.Empty(t, telemetry.RequestID(ctx))
	require.Equal(t, "r-1", telemetry.RequestID(telemetry.WithRequestID(ctx, "r-1")))
}
