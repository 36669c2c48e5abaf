package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix/platform/internal/pipeline"
)

// receiver is a remote-write endpoint that decodes what it gets.
type rwReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []rwRequest
	// answer returns the status of request n (0-based); nil = 204.
	answer func(n int) int
}

type rwRequest struct {
	header http.Header
	body   []byte
	wr     prompb.WriteRequest
	err    error
}

func newRWReceiver(t *testing.T) *rwReceiver {
	r := &rwReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rq := rwRequest{header: req.Header.Clone(), body: body}
		raw, err := snappy.Decode(nil, body)
		if err == nil {
			err = rq.wr.Unmarshal(raw)
		}
		rq.err = err
		r.mu.Lock()
		n := len(r.requests)
		r.requests = append(r.requests, rq)
		answer := r.answer
		r.mu.Unlock()
		status := http.StatusNoContent
		if answer != nil {
			status = answer(n)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rwReceiver) all() []rwRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rwRequest(nil), r.requests...)
}

// series finds the samples of a metric with the given label values.
func findSeries(wr prompb.WriteRequest, name string, match map[string]string) []prompb.TimeSeries {
	var out []prompb.TimeSeries
	for _, ts := range wr.Timeseries {
		ls := map[string]string{}
		for _, l := range ts.Labels {
			ls[l.Name] = l.Value
		}
		if ls["__name__"] != name {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && ls[k] == v
		}
		if ok {
			out = append(out, ts)
		}
	}
	return out
}

func TestAgentRemoteWritesMeasurements(t *testing.T) {
	rw := newRWReceiver(t)
	srv := newTestServer(t, "")
	host := uniqueHost(t)
	runAgent(t, Config{
		ServerURL: srv.url(), StateDir: t.TempDir(), HostName: host,
		InitialConfig: []byte(testConfig{host: host, variant: "boot"}.yaml()),
	}, Settings{})
	// What the server sends: the baseline as the active pipeline and an
	// experiment beside it, all measured, at a 1 s interval.
	composed, err := pipeline.Compose(pipeline.Assignment{
		Host:               host,
		CollectionInterval: time.Second,
		Experiments: []pipeline.Experiment{{
			ID:        "e1",
			Baseline:  pipeline.CatalogSpec("process-baseline-v1", nil),
			Candidate: pipeline.CatalogSpec("process-topk-v1", map[string]any{"k": 5}),
		}},
	})
	require.NoError(t, err)
	meters, err := measuredPipelines(composed)
	require.NoError(t, err)
	require.Len(t, meters, 3, "active, exp-e1-baseline and exp-e1-candidate are measured")
	h := srv.push(string(composed), "remote_write_url: "+rw.srv.URL+"/prometheus/api/v1/write\nremote_write_interval: 1s\n")
	srv.waitStatus(h, applied, 60*time.Second)

	var found rwRequest
	require.Eventually(t, func() bool {
		for _, r := range rw.all() {
			if r.err == nil &&
				len(findSeries(r.wr, MetricCPUSeconds, map[string]string{"host": host})) == 1 &&
				len(findSeries(r.wr, MetricMemoryBytes, map[string]string{"host": host})) == 1 &&
				len(findSeries(r.wr, outputDatapointsMetric, map[string]string{"host": host, "variant": "active", "experiment": ""})) == 1 &&
				len(findSeries(r.wr, outputDatapointsMetric, map[string]string{"host": host, "variant": "candidate", "experiment": "e1"})) == 1 &&
				len(findSeries(r.wr, "phoenix_pipeline_output_series", map[string]string{"host": host, "variant": "baseline", "experiment": "e1"})) == 1 {
				found = r
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "no remote write with the contract series")

	require.Equal(t, "snappy", found.header.Get("Content-Encoding"))
	require.Equal(t, "application/x-protobuf", found.header.Get("Content-Type"))
	require.Equal(t, "0.1.0", found.header.Get("X-Prometheus-Remote-Write-Version"))
	require.Equal(t, "Bearer "+testToken, found.header.Get("Authorization"))

	cpu := findSeries(found.wr, MetricCPUSeconds, map[string]string{"host": host})[0]
	require.Len(t, cpu.Samples, 1)
	require.Greater(t, cpu.Samples[0].Value, 0.0)
	require.InDelta(t, time.Now().UnixMilli(), cpu.Samples[0].Timestamp, float64(30*time.Second/time.Millisecond))
	mem := findSeries(found.wr, MetricMemoryBytes, map[string]string{"host": host})[0]
	require.Greater(t, mem.Samples[0].Value, float64(1<<20))
	for _, v := range []map[string]string{{"variant": "active"}, {"variant": "baseline", "experiment": "e1"}, {"variant": "candidate", "experiment": "e1"}} {
		v["host"] = host
		dp := findSeries(found.wr, outputDatapointsMetric, v)[0]
		require.Greater(t, dp.Samples[0].Value, 0.0, "%v", v)
	}
	// Labels are sorted, __name__ first, as remote write requires.
	for _, ts := range found.wr.Timeseries {
		require.Equal(t, "__name__", ts.Labels[0].Name)
		for i := 1; i < len(ts.Labels); i++ {
			require.Less(t, ts.Labels[i-1].Name, ts.Labels[i].Name)
		}
	}
}

func TestShipperRetriesServerErrorsAndDropsClientErrors(t *testing.T) {
	rw := newRWReceiver(t)
	rw.answer = func(n int) int {
		switch n {
		case 0, 1:
			return http.StatusServiceUnavailable
		case 2:
			return http.StatusNoContent
		case 3:
			return http.StatusBadRequest
		}
		return http.StatusNoContent
	}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_test_total", Help: "test"})
	reg.MustRegister(c)

	var mu sync.Mutex
	var results []shipResult
	s := newShipper(reg, http.DefaultClient, "tok", testLogger(t), func(r shipResult) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	})
	s.use(PhoenixConfig{RemoteWriteURL: rw.srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.sendLoop(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	c.Add(1)
	require.NoError(t, s.gatherOnce(rw.srv.URL))
	require.Eventually(t, func() bool { return len(rw.all()) == 3 }, 10*time.Second, 10*time.Millisecond)
	got := rw.all()
	require.Equal(t, got[0].body, got[1].body, "a 503 is retried with the same request")
	require.Equal(t, got[0].body, got[2].body)

	c.Add(1)
	require.NoError(t, s.gatherOnce(rw.srv.URL))
	c.Add(1)
	require.NoError(t, s.gatherOnce(rw.srv.URL))
	require.Eventually(t, func() bool { return len(rw.all()) == 5 }, 10*time.Second, 10*time.Millisecond)
	got = rw.all()
	require.NotEqual(t, got[3].body, got[4].body, "a 400 is dropped, not retried")
	require.Eventually(t, func() bool { return s.head() == nil }, 10*time.Second, 10*time.Millisecond)
	value := func(r rwRequest) float64 {
		return findSeries(r.wr, "phoenix_test_total", nil)[0].Samples[0].Value
	}
	require.Equal(t, 1.0, value(got[0]))
	require.Equal(t, 2.0, value(got[3]))
	require.Equal(t, 3.0, value(got[4]))

	mu.Lock()
	defer mu.Unlock()
	require.False(t, results[0].ok)
	require.True(t, results[2].ok)
	require.False(t, results[3].ok)
}

func TestShipperQueueIsBounded(t *testing.T) {
	s := newShipper(prometheus.NewRegistry(), http.DefaultClient, "tok", testLogger(t), nil)
	for i := 0; i < MaxQueuedRequests+10; i++ {
		s.enqueue(&writeRequest{samples: i})
	}
	require.Len(t, s.queue, MaxQueuedRequests)
	require.Equal(t, uint64(10), s.dropped)
	require.Equal(t, 10, s.head().samples, "the oldest were dropped")
}

func TestEncodeWriteRequests(t *testing.T) {
	mfs := []*dto.MetricFamily{
		{Name: proto.String("c_total"), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{
			{Label: []*dto.LabelPair{{Name: proto.String("z"), Value: proto.String("1")}, {Name: proto.String("a"), Value: proto.String("2")}},
				Counter: &dto.Counter{Value: proto.Float64(7)}},
		}},
		{Name: proto.String("g"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(-1.5)}}}},
		{Name: proto.String("h"), Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{{Histogram: &dto.Histogram{
			SampleCount: proto.Uint64(3), SampleSum: proto.Float64(4.5),
			Bucket: []*dto.Bucket{{UpperBound: proto.Float64(1), CumulativeCount: proto.Uint64(1)}},
		}}}},
		{Name: proto.String("s"), Type: dto.MetricType_SUMMARY.Enum(), Metric: []*dto.Metric{{Summary: &dto.Summary{
			SampleCount: proto.Uint64(2), SampleSum: proto.Float64(3),
			Quantile: []*dto.Quantile{{Quantile: proto.Float64(0.5), Value: proto.Float64(1)}},
		}}}},
	}
	reqs, err := encodeWriteRequests(mfs, 1234, 3)
	require.NoError(t, err)
	var all []prompb.TimeSeries
	for _, r := range reqs {
		require.LessOrEqual(t, r.samples, 3)
		raw, err := snappy.Decode(nil, r.body)
		require.NoError(t, err)
		var wr prompb.WriteRequest
		require.NoError(t, wr.Unmarshal(raw))
		all = append(all, wr.Timeseries...)
	}
	got := map[string]float64{}
	for _, ts := range all {
		key := ""
		for _, l := range ts.Labels {
			key += l.Name + "=" + l.Value + ","
		}
		require.Len(t, ts.Samples, 1)
		require.Equal(t, int64(1234), ts.Samples[0].Timestamp)
		got[key] = ts.Samples[0].Value
	}
	require.Equal(t, map[string]float64{
		"__name__=c_total,a=2,z=1,":  7,
		"__name__=g,":                -1.5,
		"__name__=h_bucket,le=1,":    1,
		"__name__=h_bucket,le=+Inf,": 3,
		"__name__=h_sum,":            4.5,
		"__name__=h_count,":          3,
		"__name__=s,quantile=0.5,":   1,
		"__name__=s_sum,":            3,
		"__name__=s_count,":          2,
	}, got)
	require.Len(t, reqs, 3, "9 samples at 3 per request")
}
