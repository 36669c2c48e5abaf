package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestCompletion(t *testing.T) {
	te := newTestEnv(t)
	id := te.createExperiment("completed-by-shell")

	// cobra's hidden __complete command is what the shell scripts call.
	r := te.run("__complete", "experiment", "status", "")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, id+"\tcompleted-by-shell (draft)\n")
	require.Contains(t, r.stdout, ":4\n", "no file names")
	r = te.run("__complete", "experiment", "status", id, "")
	require.NotContains(t, r.stdout, id, "one ID only")

	r = te.run("__complete", "pipeline", "show", "process-t")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "process-topk-v1\tcatalog: topk\n")
	require.NotContains(t, r.stdout, "process-baseline-v1")

	r = te.run("__complete", "pipeline", "deploy", "x", "--param", "k=1", "-o", "")
	require.Contains(t, r.stdout, "json\n")
	require.Contains(t, r.stdout, "yaml\n")
	r = te.run("__complete", "experiment", "list", "--state", "")
	require.Contains(t, r.stdout, "running\n")

	// Without a server, completion offers nothing and does not fail.
	te.vars[envServer] = ""
	r = te.run("__complete", "experiment", "status", "")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, ":4\n", r.stdout[strings.LastIndex(r.stdout[:len(r.stdout)-1], "\n")+1:])

	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := te.run("completion", shell)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "phoenix", shell)
		require.Greater(t, len(r.stdout), 1000, shell)
	}
}

func TestYAMLKeepsJSONNamesAndOrder(t *testing.T) {
	var buf bytes.Buffer
	in := json.RawMessage(`{"zeta":1,"alpha":"true","count":"0012","ratio":0.25,"none":null,"big":18446744073709551615,
		"text":"line one\nline two","list":[{"b":true,"a":[]}],"empty":{}}`)
	require.NoError(t, writeYAML(&buf, in))
	require.Equal(t, `zeta: 1
alpha: "true"
count: "0012"
ratio: 0.25
none: null
big: 18446744073709551615
text: |-
  line one
  line two
list:
  - b: true
    a: []
empty: {}
`, buf.String())
	var back map[string]any
	require.NoError(t, yaml.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, "true", back["alpha"], "strings that look like other types stay strings")
	require.Equal(t, "0012", back["count"])
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtNum(1234567), "1,234,567"},
		{fmtNum(-1234.4), "-1,234"},
		{fmtNum(450), "450"},
		{fmtNum(12.34), "12.3"},
		{fmtNum(0.01234), "0.0123"},
		{fmtMoney(1241.736, "USD"), "$1,241.74"},
		{fmtMoney(-5, "EUR"), "-5.00 EUR"},
		{fmtPct(0.625), "62.5%"},
		{fmtDuration(65e9), "1m05s"},
		{fmtDuration(3725e9), "1h02m"},
		{bar(0.5, 10), "[=====>    ]"},
		{bar(1, 4), "[====]"},
		{truncate("abcdef", 4), "abc…"},
		{fmtMap(map[string]any{"b": 2, "a": []any{"x", "y"}}), "a=[x y],b=2"},
	} {
		require.Equal(t, tc.want, tc.got)
	}
}
