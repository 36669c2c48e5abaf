package server_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/server"
)

func tenantOfKey(t *testing.T, srv *server.Server, key string) string {
	t.Helper()
	k, err := srv.Store().APIKeyGetByHash(context.Background(), auth.HashSecret(key))
	require.NoError(t, err)
	return k.TenantID
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
