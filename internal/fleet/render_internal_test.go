package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/pipeline"
)

// Rendering a shared composition for a host must give exactly what
// composing for that host gives, whatever YAML makes of the name.
func TestRenderEqualsComposeForEveryHost(t *testing.T) {
	t.Parallel()
	s := &Server{templates: &templateCache{m: map[string]*template{}}}
	a := pipeline.Assignment{
		Host: hostSentinel, CollectionInterval: 30 * time.Second,
		Active: &pipeline.Spec{Catalog: "process-topk-v1", Params: map[string]any{"k": 5}},
		Experiments: []pipeline.Experiment{{
			ID: "0190f1c2-7a3b-7c4d-8e5f-001122334455", Mode: pipeline.ModeLive,
			Baseline: pipeline.CatalogSpec("process-baseline-v1", nil), Candidate: pipeline.CatalogSpec("process-aggregated-v1", nil),
		}},
	}
	tmpl := s.templates.get(a, []string{"0190f1c2-7a3b-7c4d-8e5f-001122334455"})
	require.NoError(t, tmpl.err)
	require.Contains(t, string(tmpl.body), hostSentinel)

	for _, host := range []string{
		"web-1", "db-01.prod.example.com", "123", "1e5", "0x1F", "true", "null", "y", "on", "~", "",
		"web 1", "a: b", "-lead", "#x", "ünï", "'quoted'", "line\nbreak",
	} {
		t.Run(host, func(t *testing.T) {
			got, err := s.render(tmpl, host)
			require.NoError(t, err)
			want := a
			want.Host = host
			composeMu.Lock() // Compose is not safe to run concurrently
			body, err := pipeline.Compose(want)
			composeMu.Unlock()
			require.NoError(t, err)
			require.Equal(t, string(body), string(got))
		})
	}
}
