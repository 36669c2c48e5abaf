package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestLoginWritesAPrivateConfig(t *testing.T) {
	te := newTestEnv(t)
	server := te.vars[envServer]
	home := te.vars["HOME"]
	// Nothing in the environment: the commands must rely on the config.
	delete(te.vars, envServer)
	delete(te.vars, envAPIKey)

	r := te.run("experiment", "list")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "not logged in: run phoenix login --server URL")

	r = te.run("login")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--server URL is required")
	r = te.runIn("", "login", "--server", server)
	require.Equal(t, ExitUsage, r.code, "no key on standard input")
	r = te.runIn("phx_wrong\n", "login", "--server", server)
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "the API key was refused")
	path := filepath.Join(home, ".config", "phoenix", "config.yaml")
	_, err := os.Stat(path)
	require.True(t, errors.Is(err, os.ErrNotExist), "a refused key is not saved")

	// The key is read from standard input (a pipe: its first line).
	r = te.runIn(te.key+"\n", "login", "--server", strings.TrimPrefix(server, "http://"))
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Logged in to "+server)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the config holds a secret")
	dir, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), dir.Mode().Perm())
	var cfg cliConfig
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	require.Equal(t, cliConfig{Server: server, APIKey: te.key}, cfg)

	r = te.run("experiment", "list")
	require.Equal(t, 0, r.code, r.stderr)
	r = te.run("version")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^phoenix \S+\nserver http://127\.0\.0\.1:\d+: phoenix \S+ \(go[\d.]+\)\n$`, r.stdout)
	r = te.run("version", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var v versionResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v))
	require.Equal(t, server, v.Server.URL)
	require.NotEmpty(t, v.Server.Version)

	// Flags and the environment win over the config.
	r = te.run("experiment", "list", "--api-key", "phx_other")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "check --api-key / PHOENIX_API_KEY")
	te.vars[envAPIKey] = "phx_other"
	r = te.run("experiment", "list")
	require.Equal(t, ExitFailed, r.code)
	delete(te.vars, envAPIKey)

	// A saved key that stops working says to log in again.
	require.NoError(t, writeConfig(path, cliConfig{Server: server, APIKey: "phx_revoked"}))
	r = te.run("experiment", "list")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "hint: the API key was refused: run phoenix login again")

	// A config readable by others draws a warning.
	require.NoError(t, os.Chmod(path, 0o644))
	r = te.run("version")
	require.Contains(t, r.stderr, "readable by others")

	// XDG_CONFIG_HOME and --config choose the file.
	xdg := t.TempDir()
	te.vars["XDG_CONFIG_HOME"] = xdg
	r = te.run("login", "--server", server, "--api-key", te.key, "-o", "yaml")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "config: "+filepath.Join(xdg, "phoenix", "config.yaml"))
	other := filepath.Join(t.TempDir(), "phoenix.yaml")
	r = te.run("login", "--server", server, "--api-key", te.key, "--config", other)
	require.Equal(t, 0, r.code, r.stderr)
	r = te.run("token", "list", "--config", other)
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, os.WriteFile(other, []byte("server: x\ncolour: blue\n"), 0o600))
	r = te.run("token", "list", "--config", other)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "field colour not found")
}

func TestServerErrorsAndExitCodes(t *testing.T) {
	te := offlineEnv(t)

	r := te.run("version")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^phoenix \S+\n$`, r.stdout, "without a server, only the client's version")

	// A server that does not listen.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	te.vars[envServer] = "http://" + addr
	te.vars[envAPIKey] = "phx_x"
	r = te.run("experiment", "list")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "cannot reach the Phoenix server at http://"+addr)
	require.Contains(t, r.stderr, "hint: is it running?")
	r = te.run("version")
	require.Equal(t, 0, r.code, "version reports an unreachable server without failing")
	require.Contains(t, r.stdout, "cannot reach the Phoenix server")

	te.vars[envServer] = "ftp://phoenix"
	r = te.run("experiment", "list")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "scheme must be http or https")
	delete(te.vars, envAPIKey)
	te.vars[envServer] = "http://" + addr
	r = te.run("agent", "list")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "no API key: run phoenix login --server http://"+addr)
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitFailed},
		{&failure{msg: "server said no"}, ExitFailed},
		{&UsageError{Err: errors.New("bad flag")}, ExitUsage},
		{fmt.Errorf("wrapped: %w", &UsageError{Err: errors.New("x")}), ExitUsage},
		{&pflag.NotExistError{}, ExitUsage},
		{errors.New(`unknown command "x" for "phoenix"`), ExitUsage},
		{&rejectedError{id: "e1"}, ExitRejected},
	} {
		require.Equal(t, tc.want, ExitCode(tc.err), "%v", tc.err)
	}
}
