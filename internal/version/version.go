// Package version holds the build's version, set at link time with
// -ldflags "-X github.com/phoenix/platform/internal/version.Version=v1.2.3".
package version

// Version is the Phoenix release of this build.
var Version = "dev"
