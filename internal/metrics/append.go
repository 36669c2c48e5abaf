package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// rejectReason says why a sample was not stored.
type rejectReason int

const (
	reasonInvalidLabels rejectReason = iota // series labels are invalid
	reasonOutOfOrder                        // older than the series' newest sample
	reasonDuplicate                         // same timestamp, different value
	reasonTooOld                            // older than the store accepts
	reasonTooNew                            // too far in the future
	reasonHistogram                         // native histograms are not stored
	numReasons
)

// reasonNames are the values of the reason label of
// phoenix_ingest_samples_rejected_total.
var reasonNames = [numReasons]string{
	reasonInvalidLabels: "invalid_labels",
	reasonOutOfOrder:    "out_of_order",
	reasonDuplicate:     "duplicate",
	reasonTooOld:        "too_old",
	reasonTooNew:        "too_new",
	reasonHistogram:     "histogram",
}

// appendLimits bound one remote-write request.
type appendLimits struct {
	maxSamples int
	maxLabels  int
	maxAhead   time.Duration
}

// appendStats count what became of the samples of one request.
type appendStats struct {
	received  int
	appended  int
	rejected  [numReasons]int
	exemplars int    // exemplars dropped
	detail    string // why the first rejected sample was rejected
}

func (st *appendStats) reject(r rejectReason, n int, detail func() string) {
	if n == 0 {
		return
	}
	if st.rejectedTotal() == 0 {
		st.detail = detail()
	}
	st.rejected[r] += n
}

func (st *appendStats) rejectedTotal() int {
	n := 0
	for _, c := range st.rejected {
		n += c
	}
	return n
}

// lastSample is the newest sample appended to a series by one request.
type lastSample struct {
	t int64
	v float64
}

// appendScratch holds the reused buffers of one remote-write request.
type appendScratch struct {
	dec     wireDecoder
	builder labels.ScratchBuilder
	lset    labels.Labels
	last    map[storage.SeriesRef]lastSample
}

func newAppendScratch() *appendScratch {
	return &appendScratch{
		builder: labels.NewScratchBuilder(16),
		last:    make(map[storage.SeriesRef]lastSample),
	}
}

// appendWriteRequest decodes the remote-write request in data and appends
// its samples to the store in one transaction, every series labelled
// tenant=<tenant> (a tenant label of the request is dropped).
//
// Samples that cannot be stored (invalid series, out of order, duplicate,
// too old or too new, native histograms) are counted in the stats and
// skipped; the others are committed. A request that is not a valid
// protobuf (errProtobuf) or carries more than the samples limit
// (errTooManySamples), or a storage failure, rolls back the whole request:
// nothing of it is stored.
func (s *Store) appendWriteRequest(ctx context.Context, tenant string, data []byte, lim appendLimits, sc *appendScratch) (st appendStats, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return st, ErrClosed
	}

	app := s.db.AppenderV2(ctx)
	refs, _ := app.(storage.GetRef)
	maxT := time.Now().Add(lim.maxAhead).UnixMilli()
	// Without an out-of-order window, samples of a series must come in
	// order within the request too: checked here, since tsdb checks each
	// append only against what is committed and would drop the later
	// offender silently at commit. With a window, tsdb decides.
	inOrder := s.opts.OutOfOrderWindow == 0
	if len(sc.last) > 4096 {
		sc.last = make(map[storage.SeriesRef]lastSample) // do not keep clearing a map grown by one large request
	} else {
		clear(sc.last)
	}
	sc.dec.maxLabels = lim.maxLabels
	sc.dec.maxSamples = lim.maxSamples

	err = sc.dec.decode(data, func(ws *wireSeries) error {
		st.received += len(ws.samples) + ws.histograms
		st.exemplars += ws.exemplars
		st.reject(reasonHistogram, ws.histograms, func() string {
			return "native histogram samples are not supported"
		})
		if len(ws.samples) == 0 {
			return nil
		}
		if problem := sc.buildLabels(ws, tenant, lim.maxLabels); problem != "" {
			st.reject(reasonInvalidLabels, len(ws.samples), func() string { return problem })
			return nil
		}

		var ref storage.SeriesRef
		stored := labels.EmptyLabels()
		if refs != nil {
			ref, stored = refs.GetRef(sc.lset, sc.lset.Hash())
		}
		if ref == 0 {
			// A new series keeps its labels: they must not alias the
			// request's buffers.
			stored = ownedLabels(sc.lset)
		}
		var prev lastSample
		havePrev := false
		if ref != 0 {
			prev, havePrev = sc.last[ref]
		}
		for _, smp := range ws.samples {
			if smp.t > maxT {
				st.reject(reasonTooNew, 1, func() string {
					return fmt.Sprintf("sample at %s is more than %s ahead of the server's clock, series %s", formatMillis(smp.t), lim.maxAhead, stored)
				})
				continue
			}
			if inOrder && havePrev && smp.t <= prev.t {
				switch {
				case smp.t < prev.t:
					st.reject(reasonOutOfOrder, 1, func() string {
						return fmt.Sprintf("out of order sample at %s, series %s", formatMillis(smp.t), stored)
					})
				case math.Float64bits(smp.v) != math.Float64bits(prev.v):
					st.reject(reasonDuplicate, 1, func() string {
						return fmt.Sprintf("duplicate sample for timestamp %s with a different value, series %s", formatMillis(smp.t), stored)
					})
				default:
					// The same sample twice: stored once, as tsdb does.
					st.appended++
				}
				continue
			}
			var (
				r   storage.SeriesRef
				err error
			)
			if ref == 0 {
				// Creates the series: one at a time (see Store.createMu).
				s.createMu.Lock()
				r, err = app.Append(ref, stored, 0, smp.t, smp.v, nil, nil, storage.AOptions{})
				s.createMu.Unlock()
			} else {
				r, err = app.Append(ref, stored, 0, smp.t, smp.v, nil, nil, storage.AOptions{})
			}
			if err != nil {
				reason, ok := classifyAppendError(err)
				if !ok {
					return fmt.Errorf("append series %s: %w", stored, err)
				}
				st.reject(reason, 1, func() string {
					return fmt.Sprintf("%v at %s, series %s", err, formatMillis(smp.t), stored)
				})
				continue
			}
			ref, prev, havePrev = r, lastSample(smp), true
			st.appended++
		}
		if havePrev {
			sc.last[ref] = prev
		}
		return nil
	})
	if err != nil {
		st.appended = 0
		if rbErr := app.Rollback(); rbErr != nil {
			err = errors.Join(err, fmt.Errorf("roll back: %w", rbErr))
		}
		return st, err
	}
	if err := app.Commit(); err != nil {
		st.appended = 0
		return st, fmt.Errorf("commit samples: %w", err)
	}
	return st, nil
}

// classifyAppendError maps a tsdb append error to a reject reason; false
// means the error is a storage failure, not a problem of the sample.
func classifyAppendError(err error) (rejectReason, bool) {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return reasonOutOfOrder, true
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return reasonDuplicate, true
	case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample):
		return reasonTooOld, true
	}
	return 0, false
}

// buildLabels validates the labels of ws and writes the stored label set to
// sc.lset: the request's labels with empty values dropped, sorted, with
// tenant=<tenant> in place of any tenant label. It returns what is wrong
// with the series, or "" when it is valid. sc.lset aliases reused buffers.
func (sc *appendScratch) buildLabels(ws *wireSeries, tenant string, maxLabels int) string {
	if ws.tooManyLabels {
		return fmt.Sprintf("series has more than %d labels", maxLabels)
	}
	raw := ws.labels
	if !slices.IsSortedFunc(raw, compareLabelNames) {
		slices.SortFunc(raw, compareLabelNames)
	}
	hasName := false
	for i, l := range raw {
		if i > 0 && raw[i-1].Name == l.Name {
			return fmt.Sprintf("duplicate label name %q in series %s", l.Name, describe(raw))
		}
		if l.Name == model.MetricNameLabel {
			if l.Value == "" {
				continue // an empty value is no label, as in Prometheus
			}
			if !validMetricName(l.Value) {
				return fmt.Sprintf("invalid metric name %q", l.Value)
			}
			hasName = true
			continue
		}
		if !validLabelName(l.Name) {
			return fmt.Sprintf("invalid label name %q in series %s", l.Name, describe(raw))
		}
		if !utf8.ValidString(l.Value) {
			return fmt.Sprintf("label %q has a value that is not valid UTF-8 in series %s", l.Name, describe(raw))
		}
	}
	if !hasName {
		return fmt.Sprintf("missing metric name (label %s) in series %s", model.MetricNameLabel, describe(raw))
	}

	sc.builder.Reset()
	added := false
	for _, l := range raw {
		if !added && l.Name > TenantLabel {
			sc.builder.Add(TenantLabel, tenant)
			added = true
		}
		if l.Name == TenantLabel || l.Value == "" {
			continue
		}
		sc.builder.Add(l.Name, l.Value)
	}
	if !added {
		sc.builder.Add(TenantLabel, tenant)
	}
	sc.builder.Overwrite(&sc.lset)
	return ""
}

func compareLabelNames(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) }

// describe renders request labels for an error message.
func describe(raw []labels.Label) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range raw {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", strings.ToValidUTF8(l.Name, "\uFFFD"), strings.ToValidUTF8(l.Value, "\uFFFD"))
	}
	b.WriteByte('}')
	return b.String()
}

// ownedLabels copies ls into memory of its own.
func ownedLabels(ls labels.Labels) labels.Labels {
	b := labels.NewScratchBuilder(ls.Len())
	ls.Range(func(l labels.Label) { b.Add(strings.Clone(l.Name), strings.Clone(l.Value)) })
	return b.Labels()
}

func formatMillis(t int64) string {
	return time.UnixMilli(t).UTC().Format(time.RFC3339Nano)
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*, the
// metric names PromQL can select without quoting.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}
