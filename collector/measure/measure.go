// Package measure is the one place where the Phoenix collector processors
// publish their measurements. It wraps a client_golang registry: the agent
// gathers it and remote-writes the samples, `phoenix collector` serves it on
// its metrics address, and tests read it directly.
package measure

import "github.com/prometheus/client_golang/prometheus"

var defaultRegistry = prometheus.NewRegistry()

// Default returns the process-wide registry used by the Phoenix processors
// when their factory was not given another one.
func Default() *prometheus.Registry { return defaultRegistry }
