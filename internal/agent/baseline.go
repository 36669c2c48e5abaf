package agent

import (
	"fmt"

	"github.com/phoenix/platform/internal/pipeline"
)

// BaselineConfig returns the collector configuration an agent runs before
// the server has sent one and when it has no last-known-good: the
// process-baseline-v1 pipeline composed for host (hostmetrics every 10 s,
// measured by phoenix_meter, exported nowhere).
func BaselineConfig(host string) ([]byte, error) {
	cfg, err := pipeline.Compose(pipeline.Assignment{Host: host})
	if err != nil {
		return nil, fmt.Errorf("compose the baseline configuration: %w", err)
	}
	return cfg, nil
}
