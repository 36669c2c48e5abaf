package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/prompb"
)

// Limits of the measurement shipping.
const (
	// MaxQueuedRequests bounds the remote-write requests waiting to be
	// sent; when full the oldest is dropped. At the default 10 s interval
	// it holds 5 minutes of measurements.
	MaxQueuedRequests = 30
	// maxSamplesPerRequest splits one gather into several requests.
	maxSamplesPerRequest = 5000
	// Retry backoff of a request answered with 5xx or 429, or lost on
	// the network.
	minRetryBackoff = 500 * time.Millisecond
	maxRetryBackoff = 30 * time.Second
	// maxErrorBody is how much of an error response is logged.
	maxErrorBody = 512
)

// Headers of Prometheus remote write 1.0.
const (
	remoteWriteVersion = "0.1.0"
)

// shipResult says how one request ended, for the health report.
type shipResult struct {
	ok  bool
	err error
}

// shipper gathers a registry every interval and remote-writes the
// samples to the URL of the running configuration.
type shipper struct {
	gatherer prometheus.Gatherer
	client   *http.Client
	token    string
	log      *slog.Logger
	report   func(shipResult)
	now      func() time.Time

	mu       sync.Mutex
	url      string
	interval time.Duration
	queue    []*writeRequest
	dropped  uint64
	changed  chan struct{} // the URL or interval changed
	queued   chan struct{} // a request was queued
}

// writeRequest is one encoded request.
type writeRequest struct {
	url     string
	body    []byte // snappy-compressed prompb.WriteRequest
	samples int
}

func newShipper(g prometheus.Gatherer, client *http.Client, token string, log *slog.Logger, report func(shipResult)) *shipper {
	if report == nil {
		report = func(shipResult) {}
	}
	return &shipper{
		gatherer: g, client: client, token: token, log: log, report: report, now: time.Now,
		interval: DefaultRemoteWriteInterval,
		changed:  make(chan struct{}, 1),
		queued:   make(chan struct{}, 1),
	}
}

// use points the shipping at p's URL and interval; an empty URL pauses
// it. Requests already queued go to the URL they were made for.
func (s *shipper) use(p PhoenixConfig) {
	s.mu.Lock()
	changed := s.url != p.RemoteWriteURL || s.interval != p.interval()
	s.url, s.interval = p.RemoteWriteURL, p.interval()
	s.mu.Unlock()
	if changed {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

// run gathers and sends until ctx is done.
func (s *shipper) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sendLoop(ctx)
	}()
	s.gatherLoop(ctx)
	wg.Wait()
}

func (s *shipper) settings() (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url, s.interval
}

func (s *shipper) gatherLoop(ctx context.Context) {
	_, interval := s.settings()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
			_, interval = s.settings()
			t.Reset(interval)
		case <-t.C:
			url, _ := s.settings()
			if url == "" {
				continue
			}
			if err := s.gatherOnce(url); err != nil {
				s.log.Warn("gather measurements", "err", err)
			}
		}
	}
}

// gatherOnce gathers the registry and queues its samples.
func (s *shipper) gatherOnce(url string) error {
	mfs, gerr := s.gatherer.Gather()
	if len(mfs) == 0 {
		return gerr
	}
	reqs, err := encodeWriteRequests(mfs, s.now().UnixMilli(), maxSamplesPerRequest)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		r.url = url
		s.enqueue(r)
	}
	return gerr
}

// enqueue adds r, dropping the oldest request when the queue is full.
func (s *shipper) enqueue(r *writeRequest) {
	s.mu.Lock()
	if len(s.queue) >= MaxQueuedRequests {
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.dropped++
		if s.dropped == 1 || s.dropped%100 == 0 {
			s.log.Warn("remote write queue full; dropped the oldest request", "dropped_total", s.dropped)
		}
	}
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	select {
	case s.queued <- struct{}{}:
	default:
	}
}

// head returns the oldest queued request, nil when the queue is empty.
func (s *shipper) head() *writeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil
	}
	return s.queue[0]
}

// pop removes r if it is still the head (a full queue may have dropped it).
func (s *shipper) pop(r *writeRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 && s.queue[0] == r {
		s.queue[0] = nil
		s.queue = s.queue[1:]
	}
}

func (s *shipper) sendLoop(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		r := s.head()
		if r == nil {
			select {
			case <-ctx.Done():
				return
			case <-s.queued:
				continue
			}
		}
		retry, err := s.send(ctx, r)
		switch {
		case err == nil:
			s.pop(r)
			backoff = 0
			s.report(shipResult{ok: true})
		case !retry:
			s.pop(r)
			backoff = 0
			s.log.Warn("remote write rejected; request dropped", "url", r.url, "samples", r.samples, "err", err)
			s.report(shipResult{err: err})
		default:
			if ctx.Err() != nil {
				return
			}
			backoff = nextBackoff(backoff)
			s.log.Debug("remote write failed; retrying", "url", r.url, "in", backoff, "err", err)
			s.report(shipResult{err: err})
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// nextBackoff doubles the wait from minRetryBackoff up to
// maxRetryBackoff, with up to 20% jitter.
func nextBackoff(prev time.Duration) time.Duration {
	d := min(max(prev*2, minRetryBackoff), maxRetryBackoff)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// send posts one request. retry says whether a failure is worth
// retrying: network errors, 5xx and 429.
func (s *shipper) send(ctx context.Context, r *writeRequest) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(r.body))
	if err != nil {
		return false, fmt.Errorf("remote write: %w", err)
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "phoenix-agent")
	req.Header.Set("X-Prometheus-Remote-Write-Version", remoteWriteVersion)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("remote write to %s: %w", r.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return false, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	err = fmt.Errorf("remote write to %s: %s: %s", r.url, resp.Status, bytes.TrimSpace(msg))
	return resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests, err
}

// encodeWriteRequests turns gathered families into snappy-compressed
// remote-write requests of at most limit samples, every sample stamped ts
// (milliseconds). Counters, gauges and untyped metrics become one series
// each; histograms and summaries their classic _bucket/quantile, _sum and
// _count series. Labels are sorted by name, __name__ first.
func encodeWriteRequests(mfs []*dto.MetricFamily, ts int64, limit int) ([]*writeRequest, error) {
	var (
		out []*writeRequest
		wr  prompb.WriteRequest
	)
	flush := func() error {
		if len(wr.Timeseries) == 0 {
			return nil
		}
		b, err := wr.Marshal()
		if err != nil {
			return fmt.Errorf("encode remote write request: %w", err)
		}
		out = append(out, &writeRequest{body: snappy.Encode(nil, b), samples: len(wr.Timeseries)})
		wr.Timeseries = nil
		return nil
	}
	add := func(name string, m *dto.Metric, v float64, extra ...prompb.Label) error {
		ls := make([]prompb.Label, 0, len(m.GetLabel())+1+len(extra))
		ls = append(ls, prompb.Label{Name: "__name__", Value: name})
		for _, l := range m.GetLabel() {
			ls = append(ls, prompb.Label{Name: l.GetName(), Value: l.GetValue()})
		}
		ls = append(ls, extra...)
		sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
		wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: v, Timestamp: ts}}})
		if len(wr.Timeseries) >= limit {
			return flush()
		}
		return nil
	}
	var errs []error
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			var err error
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				err = add(name, m, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				err = add(name, m, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				err = add(name, m, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.GetBucket() {
					inf = inf || math.IsInf(b.GetUpperBound(), 1)
					if err = add(name+"_bucket", m, float64(b.GetCumulativeCount()), prompb.Label{Name: "le", Value: formatFloat(b.GetUpperBound())}); err != nil {
						break
					}
				}
				if err == nil && !inf {
					err = add(name+"_bucket", m, float64(h.GetSampleCount()), prompb.Label{Name: "le", Value: "+Inf"})
				}
				if err == nil {
					err = add(name+"_sum", m, h.GetSampleSum())
				}
				if err == nil {
					err = add(name+"_count", m, float64(h.GetSampleCount()))
				}
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				for _, q := range sm.GetQuantile() {
					if err = add(name, m, q.GetValue(), prompb.Label{Name: "quantile", Value: formatFloat(q.GetQuantile())}); err != nil {
						break
					}
				}
				if err == nil {
					err = add(name+"_sum", m, sm.GetSampleSum())
				}
				if err == nil {
					err = add(name+"_count", m, float64(sm.GetSampleCount()))
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := flush(); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// formatFloat renders a bucket bound or quantile as Prometheus does.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
