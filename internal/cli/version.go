package cli

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/version"
)

// versionResult is what version reports with --output json|yaml.
type versionResult struct {
	Client api.VersionInfo `json:"client"`
	Server *serverVersion  `json:"server,omitempty"`
}

type serverVersion struct {
	URL       string `json:"url"`
	Version   string `json:"version,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
	Error     string `json:"error,omitempty"`
}

func newVersionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the Phoenix version, and the server's when one is configured",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.SetFlagErrorFunc(flagUsageError)
	addClientFlags(cmd.Flags())
	registerOutputCompletion(cmd)
	cmd.RunE = runE(func(a *app, _ []string) error {
		out := versionResult{Client: api.VersionInfo{Version: version.Version, GoVersion: runtime.Version()}}
		if a.server != "" {
			sv := &serverVersion{URL: a.server}
			out.Server = sv
			c, err := a.client()
			if err == nil {
				var v *api.VersionInfo
				if v, err = c.Version(a.ctx); err == nil {
					sv.Version, sv.GoVersion = v.Version, v.GoVersion
				}
			}
			if err != nil {
				sv.Error = firstLine(a.explain(err).Error())
			}
		}
		return a.render(out, func(w io.Writer) error {
			fmt.Fprintf(w, "phoenix %s\n", out.Client.Version)
			if sv := out.Server; sv != nil {
				if sv.Error != "" {
					fmt.Fprintf(w, "server %s: %s\n", sv.URL, sv.Error)
				} else {
					fmt.Fprintf(w, "server %s: phoenix %s (%s)\n", sv.URL, sv.Version, sv.GoVersion)
				}
			}
			return nil
		})
	})
	return cmd
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
