package analysis

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// TestBuildQueriesParse checks every query with Prometheus's own PromQL
// parser, including label values that need escaping.
func TestBuildQueriesParse(t *testing.T) {
	t.Parallel()
	p := parser.NewParser(parser.Options{})
	for _, c := range []struct {
		tenant, exp string
		window      time.Duration
	}{
		{"tenant-1", "exp-42", time.Minute},
		{`te"n\ant`, "exp\nnewline", 1500 * time.Millisecond},
	} {
		q := BuildQueries(c.tenant, c.exp, c.window)
		all := []string{q.OutputSeries, q.InputSeries, q.Datapoints, q.Bytes, q.Processing,
			q.CriticalExpected, q.CriticalRetained, q.CriticalMissing}
		for _, s := range all {
			expr, err := p.ParseExpr(s)
			require.NoError(t, err, s)
			var sels []*parser.VectorSelector
			var ranges []*parser.MatrixSelector
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				switch v := n.(type) {
				case *parser.VectorSelector:
					sels = append(sels, v)
				case *parser.MatrixSelector:
					ranges = append(ranges, v)
				}
				return nil
			})
			require.Len(t, sels, 1, s)
			got := map[string]*labels.Matcher{}
			for _, m := range sels[0].LabelMatchers {
				got[m.Name] = m
			}
			require.Equal(t, c.tenant, got[labelTenant].Value, s)
			require.Equal(t, labels.MatchEqual, got[labelTenant].Type)
			require.Equal(t, c.exp, got[labelExperiment].Value, s)
			require.Equal(t, labels.MatchRegexp, got[labelVariant].Type)
			require.True(t, got[labelVariant].Matches(VariantBaseline))
			require.True(t, got[labelVariant].Matches(VariantCandidate))
			require.False(t, got[labelVariant].Matches("active"))
			if len(ranges) > 0 {
				require.Equal(t, c.window, ranges[0].Range, s)
			}
		}
		for _, s := range []string{q.Datapoints, q.Bytes, q.Processing} {
			require.Contains(t, s, "rate(", s)
		}
	}
}

func TestPromDuration(t *testing.T) {
	t.Parallel()
	require.Equal(t, "60s", promDuration(time.Minute))
	require.Equal(t, "1500ms", promDuration(1500*time.Millisecond))
}
