package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// docsPath is the command reference, generated from the command tree.
var docsPath = filepath.Join("..", "..", "docs", "cli.md")

const docsHeader = `# The phoenix command

<!-- Generated from the command tree by: go test ./internal/cli -run TestDocs -update
     Do not edit by hand; change the commands' help and regenerate. -->

One binary runs the server, the agent and the collector, and is the command
line of the REST API: every workflow (log in, create and follow experiments,
compare, promote, deploy pipelines, manage keys and enrollment tokens) works
from a terminal and from scripts.

## Settings

The commands that talk to a server take its URL and an API key from, in
order: the flags --server and --api-key, the environment variables
PHOENIX_SERVER and PHOENIX_API_KEY, and the CLI config file that
` + "`phoenix login`" + ` writes (--config, default
$XDG_CONFIG_HOME/phoenix/config.yaml, else ~/.config/phoenix/config.yaml,
mode 0600).

## Output

Read commands print tables for people; ` + "`-o json`" + ` prints the API's
JSON objects (the same field names) and ` + "`-o yaml`" + ` the same objects
as YAML, for scripts. ` + "`experiment watch`" + ` redraws a live view on a
terminal and prints one line per change otherwise.

## Exit status

| status | meaning |
|---|---|
| 0 | success |
| 1 | the operation failed: the server refused it (the error shows its code, message, each bad field and a hint), or a file is invalid |
| 2 | usage error: unknown command or flag, bad flag value, missing argument, not logged in |
| 3 | ` + "`--fail-on-reject`" + ` and the experiment's verdict is reject |

## Shell completion

` + "`phoenix completion bash|zsh|fish|powershell`" + ` prints a completion
script; IDs of experiments, deployments, agents, keys and tokens, and
pipeline names, are completed from the configured server.

`

// writeDocs writes the reference of every visible command under root.
func writeDocs(w io.Writer, root *cobra.Command) error {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var cmds []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		cmds = append(cmds, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)

	var b bytes.Buffer
	b.WriteString(docsHeader)
	b.WriteString("## Commands\n\n")
	for _, c := range cmds[1:] {
		fmt.Fprintf(&b, "%s- [%s](#%s): %s\n", strings.Repeat("  ", depth(c)-1), c.CommandPath(), anchor(c.CommandPath()), c.Short)
	}
	for _, c := range cmds[1:] {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", c.CommandPath(), c.Short)
		if long := strings.TrimSpace(c.Long); long != "" && long != c.Short {
			fmt.Fprintf(&b, "\n%s\n", indentCode(long))
		}
		if c.Runnable() && c.Annotations[groupAnnotation] == "" {
			fmt.Fprintf(&b, "\n```\n%s\n```\n", c.UseLine())
		}
		if c.HasAvailableSubCommands() {
			b.WriteString("\nSubcommands:\n\n")
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() {
					fmt.Fprintf(&b, "- [%s](#%s): %s\n", sub.Name(), anchor(sub.CommandPath()), sub.Short)
				}
			}
		}
		if c.Example != "" {
			fmt.Fprintf(&b, "\nExamples:\n\n```\n%s\n```\n", strings.TrimRight(c.Example, "\n"))
		}
		if fs := c.NonInheritedFlags(); fs.HasAvailableFlags() {
			fmt.Fprintf(&b, "\nFlags:\n\n```\n%s```\n", fs.FlagUsages())
		}
		if fs := c.InheritedFlags(); fs.HasAvailableFlags() {
			fmt.Fprintf(&b, "\nInherited flags:\n\n```\n%s```\n", fs.FlagUsages())
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func depth(c *cobra.Command) int {
	n := 0
	for p := c; p.HasParent(); p = p.Parent() {
		n++
	}
	return n
}

// anchor is GitHub's anchor of a heading.
func anchor(heading string) string {
	return strings.ReplaceAll(strings.ToLower(heading), " ", "-")
}

// indentCode fences the indented blocks of a long description as code;
// indented list items ("  - ...") and their continuation lines stay text.
func indentCode(s string) string {
	var out []string
	inCode, inList := false, false
	for _, l := range strings.Split(s, "\n") {
		trimmed := strings.TrimSpace(l)
		indented := strings.HasPrefix(l, "  ")
		switch {
		case trimmed == "":
			inList = false
		case indented && strings.HasPrefix(trimmed, "- "):
			inList = true
		}
		code := indented && !inList && trimmed != ""
		switch {
		case code && !inCode:
			out = append(out, "```")
			inCode = true
		case !code && inCode && trimmed != "":
			for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
				out = out[:len(out)-1]
			}
			out = append(out, "```", "")
			inCode = false
		}
		out = append(out, l)
	}
	if inCode {
		for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
			out = out[:len(out)-1]
		}
		out = append(out, "```")
	}
	return strings.Join(out, "\n")
}

func TestDocs(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeDocs(&buf, NewRoot()))
	if *update {
		require.NoError(t, os.WriteFile(docsPath, buf.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(docsPath)
	require.NoError(t, err, "run go test ./internal/cli -run TestDocs -update")
	require.Equal(t, string(want), buf.String(), "docs/cli.md is out of date: run go test ./internal/cli -run TestDocs -update")
}
