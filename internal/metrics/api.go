package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/phoenix/platform/internal/version"
)

// APIPrefix is where the server mounts the handler of [NewAPI].
const APIPrefix = "/prometheus/api/v1/"

// maxFormBytes bounds the form body of a POST to the query API.
const maxFormBytes = 4 << 20

// maxPointsPerSeries bounds the steps of a range query, as Prometheus does.
const maxPointsPerSeries = 11000

// Bounds of the time parameters when absent, those of Prometheus's API.
var (
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
)

// NewAPI returns the subset of Prometheus's HTTP API that Grafana's
// Prometheus data source uses, over st, under [APIPrefix]:
//
//	GET|POST query, query_range, series, labels
//	GET      label/{name}/values, status/buildinfo
//
// Answers have Prometheus's JSON shapes ({"status":"success","data":...}
// or {"status":"error","errorType":"bad_data","error":"..."}) and status
// codes. Every request is authenticated with auth and sees only the
// caller's tenant: every selector of a query, and every match[] selector,
// is rewritten to carry tenant="<caller's tenant>" in place of any tenant
// matcher it had, and the storage reads are restricted to that tenant too.
// A nil log discards the handler's logs. st and auth are required: NewAPI
// panics without them, a wiring mistake to catch at start-up.
func NewAPI(st *Store, auth Authenticate, log *slog.Logger) http.Handler {
	if st == nil || auth == nil {
		panic("metrics.NewAPI: store and authenticate function are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{st: st, auth: auth, log: log, now: time.Now}
	mux := http.NewServeMux()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		mux.Handle(method+" "+APIPrefix+"query", a.handle(a.query))
		mux.Handle(method+" "+APIPrefix+"query_range", a.handle(a.queryRange))
		mux.Handle(method+" "+APIPrefix+"series", a.handle(a.series))
		mux.Handle(method+" "+APIPrefix+"labels", a.handle(a.labelNames))
	}
	mux.Handle("GET "+APIPrefix+"label/{name}/values", a.handle(a.labelValues))
	mux.Handle("GET "+APIPrefix+"status/buildinfo", a.handle(a.buildInfo))
	mux.Handle("/", a.handle(func(*http.Request, string) (*apiResult, *apiError) {
		return nil, &apiError{typ: "not_found", status: http.StatusNotFound, err: errors.New("unknown API endpoint")}
	}))
	return mux
}

type api struct {
	st   *Store
	auth Authenticate
	log  *slog.Logger
	now  func() time.Time
}

// apiResult is a successful answer: the data field, already encoded, and
// the engine's annotations.
type apiResult struct {
	data     []byte
	warnings annotations.Annotations
	query    string
}

// apiError is a failed answer.
type apiError struct {
	typ    string // errorType: bad_data, execution, timeout, canceled, internal, unavailable, not_found, unauthorized
	status int
	err    error
}

func badData(err error) *apiError {
	return &apiError{typ: "bad_data", status: http.StatusBadRequest, err: err}
}

func invalidParam(name string, err error) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func (a *api) handle(fn func(r *http.Request, tenant string) (*apiResult, *apiError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, status, err := authenticate(a.auth, r)
		if err != nil {
			a.writeError(w, &apiError{typ: "unauthorized", status: status, err: err})
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		if err := r.ParseForm(); err != nil {
			a.writeError(w, badData(fmt.Errorf("error parsing form values: %w", err)))
			return
		}
		res, apiErr := fn(r, tenant)
		if apiErr != nil {
			if apiErr.status >= http.StatusInternalServerError {
				a.log.Error("metrics API", "path", r.URL.Path, "tenant", tenant, "err", apiErr.err)
			}
			a.writeError(w, apiErr)
			return
		}

		bp := bufPool.Get().(*[]byte)
		b := append((*bp)[:0], `{"status":"success","data":`...)
		b = append(b, res.data...)
		warnings, infos := res.warnings.AsStrings(res.query, 10, 10)
		if len(warnings) > 0 {
			b = append(b, `,"warnings":`...)
			b = appendStrings(b, warnings)
		}
		if len(infos) > 0 {
			b = append(b, `,"infos":`...)
			b = appendStrings(b, infos)
		}
		b = append(b, '}')
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		if cap(b) <= pooledBufferMax {
			*bp = b
			bufPool.Put(bp)
		}
	})
}

func (a *api) writeError(w http.ResponseWriter, e *apiError) {
	msg := e.err.Error()
	if e.status >= http.StatusInternalServerError && e.typ == "internal" {
		msg = "internal error"
	}
	b := append([]byte(`{"status":"error","errorType":`), appendString(nil, e.typ)...)
	b = append(b, `,"error":`...)
	b = appendString(b, msg)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// evalError maps an error of evaluating a query to its answer, as
// Prometheus does.
func evalError(err error) *apiError {
	var (
		timeout  promql.ErrQueryTimeout
		canceled promql.ErrQueryCanceled
		stErr    promql.ErrStorage
	)
	var bq *badQueryError
	switch {
	case errors.As(err, &bq):
		return invalidParam("query", bq.err)
	case errors.Is(err, ErrBadQuery):
		return badData(err)
	case errors.Is(err, ErrClosed):
		return &apiError{typ: "unavailable", status: http.StatusServiceUnavailable, err: err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{typ: "timeout", status: http.StatusServiceUnavailable, err: err}
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{typ: "canceled", status: 499, err: err}
	case errors.As(err, &stErr):
		return &apiError{typ: "internal", status: http.StatusInternalServerError, err: err}
	}
	return &apiError{typ: "execution", status: http.StatusUnprocessableEntity, err: err}
}

// withTimeout applies the optional timeout parameter.
func withTimeout(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	ctx := r.Context()
	to := r.FormValue("timeout")
	if to == "" {
		return ctx, func() {}, nil
	}
	d, err := parseDuration(to)
	if err != nil {
		return nil, nil, invalidParam("timeout", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, nil
}

func (a *api) query(r *http.Request, tenant string) (*apiResult, *apiError) {
	ts, err := parseTimeParam(r, "time", a.now())
	if err != nil {
		return nil, invalidParam("time", err)
	}
	ctx, cancel, apiErr := withTimeout(r)
	if apiErr != nil {
		return nil, apiErr
	}
	defer cancel()
	q := r.FormValue("query")
	expr, err := a.st.parser.ParseExpr(q)
	if err != nil {
		return nil, invalidParam("query", err)
	}
	res, err := a.st.instant(ctx, scopeQueryable(a.st.db, tenant), scopeExpr(expr, tenant), ts)
	if err != nil {
		return nil, evalError(err)
	}
	return &apiResult{data: appendQueryData(nil, res.value), warnings: res.warnings, query: q}, nil
}

func (a *api) queryRange(r *http.Request, tenant string) (*apiResult, *apiError) {
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return nil, invalidParam("start", err)
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return nil, invalidParam("end", err)
	}
	if end.Before(start) {
		return nil, invalidParam("end", errors.New("end timestamp must not be before start time"))
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return nil, invalidParam("step", err)
	}
	if step <= 0 {
		return nil, invalidParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"))
	}
	if end.Sub(start)/step > maxPointsPerSeries {
		return nil, badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
	}
	ctx, cancel, apiErr := withTimeout(r)
	if apiErr != nil {
		return nil, apiErr
	}
	defer cancel()
	q := r.FormValue("query")
	expr, err := a.st.parser.ParseExpr(q)
	if err != nil {
		return nil, invalidParam("query", err)
	}
	res, err := a.st.rangeQuery(ctx, scopeQueryable(a.st.db, tenant), scopeExpr(expr, tenant), start, end, step)
	if err != nil {
		return nil, evalError(err)
	}
	return &apiResult{data: appendQueryData(nil, res.value), warnings: res.warnings, query: q}, nil
}

// timeRange parses the optional start and end parameters.
func timeRange(r *http.Request) (start, end time.Time, _ *apiError) {
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return start, end, invalidParam("start", err)
	}
	end, err = parseTimeParam(r, "end", maxTime)
	if err != nil {
		return start, end, invalidParam("end", err)
	}
	return start, end, nil
}

// matcherSets parses the match[] parameters and scopes each to tenant.
func (a *api) matcherSets(r *http.Request, tenant string) ([][]*labels.Matcher, *apiError) {
	sets, err := a.st.parser.ParseMetricSelectors(r.Form["match[]"])
	if err != nil {
		return nil, invalidParam("match[]", err)
	}
	for i, ms := range sets {
		if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m != nil && !m.Matches("") }) {
			return nil, badData(errors.New("match[] must contain at least one non-empty matcher"))
		}
		sets[i] = tenantMatchers(ms, tenant)
	}
	return sets, nil
}

func parseLimit(r *http.Request) (int, *apiError) {
	s := r.FormValue("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, invalidParam("limit", fmt.Errorf("cannot parse %q to a valid limit", s))
	}
	return n, nil
}

func (a *api) series(r *http.Request, tenant string) (*apiResult, *apiError) {
	if len(r.Form["match[]"]) == 0 {
		return nil, badData(errors.New("no match[] parameter provided"))
	}
	limit, apiErr := parseLimit(r)
	if apiErr != nil {
		return nil, apiErr
	}
	start, end, apiErr := timeRange(r)
	if apiErr != nil {
		return nil, apiErr
	}
	sets, apiErr := a.matcherSets(r, tenant)
	if apiErr != nil {
		return nil, apiErr
	}
	var (
		data     []byte
		warnings annotations.Annotations
	)
	mint, maxt := timestampMillis(start), timestampMillis(end)
	err := a.st.withQuerier(tenant, mint, maxt, func(q storage.Querier) error {
		hints := &storage.SelectHints{Start: mint, End: maxt, Func: "series", Limit: limit}
		ctx := r.Context()
		var set storage.SeriesSet
		if len(sets) == 1 {
			set = q.Select(ctx, true, hints, sets[0]...)
		} else {
			all := make([]storage.SeriesSet, len(sets))
			for i, ms := range sets {
				all[i] = q.Select(ctx, true, hints, ms...)
			}
			set = storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
		}
		data = append(data, '[')
		n := 0
		for set.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if limit > 0 && n == limit {
				warnings = warnings.Add(errors.New("results truncated due to limit"))
				break
			}
			if n > 0 {
				data = append(data, ',')
			}
			data = appendLabels(data, set.At().Labels())
			n++
		}
		data = append(data, ']')
		warnings.Merge(set.Warnings())
		return set.Err()
	})
	if err != nil {
		return nil, evalError(err)
	}
	return &apiResult{data: data, warnings: warnings}, nil
}

func (a *api) labelNames(r *http.Request, tenant string) (*apiResult, *apiError) {
	return a.labelQuery(r, tenant, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, hints, ms...)
	})
}

func (a *api) labelValues(r *http.Request, tenant string) (*apiResult, *apiError) {
	name := r.PathValue("name")
	if !model.UTF8Validation.IsValidLabelName(name) {
		return nil, badData(fmt.Errorf("invalid label name: %q", name))
	}
	return a.labelQuery(r, tenant, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, hints, ms...)
	})
}

// labelQuery answers labels and label values: the union of get over every
// match[] selector, or over the tenant's whole data without one, sorted.
func (a *api) labelQuery(r *http.Request, tenant string, get func(context.Context, storage.Querier, *storage.LabelHints, []*labels.Matcher) ([]string, annotations.Annotations, error)) (*apiResult, *apiError) {
	limit, apiErr := parseLimit(r)
	if apiErr != nil {
		return nil, apiErr
	}
	start, end, apiErr := timeRange(r)
	if apiErr != nil {
		return nil, apiErr
	}
	sets, apiErr := a.matcherSets(r, tenant)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{tenantMatchers(nil, tenant)}
	}
	var (
		data     []byte
		warnings annotations.Annotations
	)
	err := a.st.withQuerier(tenant, timestampMillis(start), timestampMillis(end), func(q storage.Querier) error {
		hints := &storage.LabelHints{Limit: limit}
		var names []string
		for _, ms := range sets {
			vals, ws, err := get(r.Context(), q, hints, ms)
			if err != nil {
				return err
			}
			warnings.Merge(ws)
			names = append(names, vals...)
		}
		slices.Sort(names)
		names = slices.Compact(names)
		if limit > 0 && len(names) > limit {
			names = names[:limit]
			warnings = warnings.Add(errors.New("results truncated due to limit"))
		}
		data = appendStrings(data, names)
		return nil
	})
	if err != nil {
		return nil, evalError(err)
	}
	return &apiResult{data: data, warnings: warnings}, nil
}

func (a *api) buildInfo(*http.Request, string) (*apiResult, *apiError) {
	b := []byte(`{"version":`)
	b = appendString(b, promVersion())
	b = append(b, `,"revision":`...)
	b = appendString(b, "phoenix "+version.Version)
	b = append(b, `,"branch":"","buildUser":"","buildDate":"","goVersion":`...)
	b = appendString(b, runtime.Version())
	b = append(b, '}')
	return &apiResult{data: b}, nil
}

// promVersion is the Prometheus release whose PromQL engine the store runs,
// which Grafana reads to know the features it may use. Prometheus 3.x.y is
// published as Go module v0.3xx.y; "3.0.0" when the build carries no
// module information.
var promVersion = sync.OnceValue(func() string {
	const fallback = "3.0.0"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fallback
	}
	for _, dep := range bi.Deps {
		if dep.Path != "github.com/prometheus/prometheus" {
			continue
		}
		parts := strings.SplitN(strings.TrimPrefix(dep.Version, "v"), ".", 3)
		if len(parts) != 3 || parts[0] != "0" {
			return fallback
		}
		minor, err := strconv.Atoi(parts[1])
		if err != nil || minor < 300 {
			return fallback
		}
		patch, _, _ := strings.Cut(parts[2], "-")
		return fmt.Sprintf("%d.%d.%s", minor/100, minor%100, patch)
	}
	return fallback
})

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	return parseTime(v)
}

// parseTime parses seconds since the epoch or RFC 3339, as Prometheus does.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(t)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTime.Format(time.RFC3339Nano):
		return minTime, nil
	case maxTime.Format(time.RFC3339Nano):
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration parses seconds or a Prometheus duration (5m, 1h30m).
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if ts > float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}
