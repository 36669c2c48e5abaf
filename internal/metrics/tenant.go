package metrics

import (
	"context"
	"net/http"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// TenantLabel is the label that holds the tenant of every stored series. The
// ingest sets it from the writer's credential; the HTTP API restricts every
// query to the caller's tenant with it.
const TenantLabel = "tenant"

// Authenticate identifies the caller of a request and returns its tenant.
// It is called once per request, possibly concurrently. An error whose
// value has a method HTTPStatus() int (as the API's error type has) is
// answered with that status, any other error with 401 Unauthorized; the
// error's message is shown to the caller unless the status is 500 or more.
type Authenticate func(r *http.Request) (tenant string, err error)

// tenantMatchers returns ms without any matcher on the tenant label, plus
// tenant="<tenant>". It never changes ms.
func tenantMatchers(ms []*labels.Matcher, tenant string) []*labels.Matcher {
	out := make([]*labels.Matcher, 0, len(ms)+1)
	for _, m := range ms {
		if m.Name != TenantLabel {
			out = append(out, m)
		}
	}
	return append(out, labels.MustNewMatcher(labels.MatchEqual, TenantLabel, tenant))
}

// scopeExpr rewrites every vector and matrix selector of expr (those inside
// subqueries and function arguments too) so that it matches only tenant's
// series, replacing any tenant matcher the query wrote, and returns the
// rewritten query text.
func scopeExpr(expr parser.Expr, tenant string) string {
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			vs.LabelMatchers = tenantMatchers(vs.LabelMatchers, tenant)
		}
		return nil
	})
	return expr.String()
}

// scopeQueryable restricts every read of q to tenant's series. The HTTP API
// evaluates rewritten queries (see scopeExpr) against it, so a selector the
// rewrite could have missed still sees one tenant only.
func scopeQueryable(q storage.Queryable, tenant string) storage.Queryable {
	m := labels.MustNewMatcher(labels.MatchEqual, TenantLabel, tenant)
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		inner, err := q.Querier(mint, maxt)
		if err != nil {
			return nil, err
		}
		return tenantQuerier{Querier: inner, m: m}, nil
	})
}

type tenantQuerier struct {
	storage.Querier
	m *labels.Matcher
}

func (q tenantQuerier) with(ms []*labels.Matcher) []*labels.Matcher {
	return append(ms[:len(ms):len(ms)], q.m)
}

func (q tenantQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return q.Querier.Select(ctx, sortSeries, hints, q.with(ms)...)
}

func (q tenantQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.Querier.LabelValues(ctx, name, hints, q.with(ms)...)
}

func (q tenantQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.Querier.LabelNames(ctx, hints, q.with(ms)...)
}
