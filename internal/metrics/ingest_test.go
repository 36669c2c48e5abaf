package metrics

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func TestIngestRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{})

	status, body := e.write(t, "token-a",
		series(contract("phoenix_pipeline_output_series", "host-1", "baseline"), smp(t0, 100), smp(t0.Add(15*time.Second), 110)),
		series(contract("phoenix_pipeline_output_series", "host-1", "candidate"), smp(t0, 40), smp(t0.Add(15*time.Second), 42)),
		// Labels out of order, an empty label and a tenant label of the
		// writer's choosing: sorted, dropped and replaced.
		series([]string{"variant", "candidate", "tenant", "b", "__name__", "phoenix_agent_memory_bytes", "host", "host-1", "empty", ""}, smp(t0, 5e6)),
	)
	require.Equal(t, http.StatusNoContent, status, body)

	got := query(t, e.st, `phoenix_pipeline_output_series`, t0.Add(20*time.Second))
	require.Equal(t, []Series{
		{Labels: map[string]string{"__name__": "phoenix_pipeline_output_series", "experiment": "exp-1", "host": "host-1", "tenant": "a", "variant": "baseline"},
			Samples: []Sample{{T: t0.Add(20 * time.Second), V: 110}}},
		{Labels: map[string]string{"__name__": "phoenix_pipeline_output_series", "experiment": "exp-1", "host": "host-1", "tenant": "a", "variant": "candidate"},
			Samples: []Sample{{T: t0.Add(20 * time.Second), V: 42}}},
	}, got, "an instant query's samples carry the evaluation time")

	got = query(t, e.st, `phoenix_agent_memory_bytes`, t0)
	require.Equal(t, []Series{{
		Labels:  map[string]string{"__name__": "phoenix_agent_memory_bytes", "host": "host-1", "tenant": "a", "variant": "candidate"},
		Samples: []Sample{{T: t0, V: 5e6}},
	}}, got, "the tenant comes from the credential, never from the payload")

	rng, err := e.st.QueryRange(context.Background(), `sum by (variant) (phoenix_pipeline_output_series)`, t0, t0.Add(15*time.Second), 15*time.Second)
	require.NoError(t, err)
	require.Equal(t, []Series{
		{Labels: map[string]string{"variant": "baseline"}, Samples: []Sample{{T: t0, V: 100}, {T: t0.Add(15 * time.Second), V: 110}}},
		{Labels: map[string]string{"variant": "candidate"}, Samples: []Sample{{T: t0, V: 40}, {T: t0.Add(15 * time.Second), V: 42}}},
	}, sortSeries(rng))

	require.InDelta(t, 5, e.counter(t, "phoenix_ingest_samples_received_total"), 0)
	require.InDelta(t, 5, e.counter(t, "phoenix_ingest_samples_appended_total"), 0)
	require.InDelta(t, 1, labelledCounter(t, e, "phoenix_ingest_requests_total", "code", "204"), 0)
}

// counter returns the value of an unlabelled counter of the write handler.
func (e *env) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// rejected returns phoenix_ingest_samples_rejected_total{reason}.
func (e *env) rejected(t *testing.T, reason string) float64 {
	t.Helper()
	return labelledCounter(t, e, "phoenix_ingest_samples_rejected_total", "reason", reason)
}

func labelledCounter(t *testing.T, e *env, name, label, value string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestIngestRefusedRequestsStoreNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{MaxBodyBytes: 64 << 10, MaxDecodedBytes: 256 << 10, MaxSamplesPerRequest: 50})
	before := series(contract("phoenix_pipeline_output_series", "host-1", "baseline"), smp(t0, 7))
	status, body := e.write(t, "token-a", before)
	require.Equal(t, http.StatusNoContent, status, body)

	valid := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(contract("phoenix_pipeline_output_series", "host-2", "baseline"), smp(t0, 1)),
	}}
	validBytes, err := valid.Marshal()
	require.NoError(t, err)

	many := make([]prompb.Sample, 51)
	for i := range many {
		many[i] = smp(t0.Add(time.Duration(i)*time.Second), float64(i))
	}
	tooMany, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(contract("phoenix_pipeline_output_series", "host-2", "baseline"), many[:25]...),
		series(contract("phoenix_pipeline_output_series", "host-3", "baseline"), many[25:]...),
	}}).Marshal()
	require.NoError(t, err)

	// A small snappy body that decodes to 1 MiB of zeros: refused before
	// decoding.
	bomb := snappy.Encode(nil, make([]byte, 1<<20))
	require.Less(t, len(bomb), 64<<10)

	// A valid series followed by a truncated one: refused as a whole,
	// the valid series must not be stored either.
	truncated := append(append([]byte(nil), validBytes...), validBytes[:len(validBytes)-3]...)

	for _, tc := range []struct {
		name   string
		token  string
		body   []byte
		header map[string]string
		status int
		reason string
		want   string
	}{
		{"no credential", "", snappy.Encode(nil, validBytes), nil, http.StatusUnauthorized, "unauthenticated", "missing bearer token"},
		{"forbidden credential", "read-only", snappy.Encode(nil, validBytes), nil, http.StatusForbidden, "unauthenticated", "may not write"},
		{"not snappy", "token-a", []byte("this is not snappy at all"), nil, http.StatusBadRequest, "snappy", "not snappy"},
		{"gzip encoding", "token-a", snappy.Encode(nil, validBytes), map[string]string{"Content-Encoding": "gzip"}, http.StatusUnsupportedMediaType, "media_type", "gzip"},
		{"remote write 2.0", "token-a", snappy.Encode(nil, validBytes), map[string]string{"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"}, http.StatusUnsupportedMediaType, "media_type", "remote write 1.0"},
		{"json body", "token-a", snappy.Encode(nil, validBytes), map[string]string{"Content-Type": "application/json"}, http.StatusUnsupportedMediaType, "media_type", "application/json"},
		{"bad protobuf", "token-a", snappy.Encode(nil, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}), nil, http.StatusBadRequest, "protobuf", "invalid protobuf"},
		{"wrong wire type", "token-a", snappy.Encode(nil, []byte{0x08, 0x01}), nil, http.StatusBadRequest, "protobuf", "wrong wire type"},
		{"truncated after a valid series", "token-a", snappy.Encode(nil, truncated), nil, http.StatusBadRequest, "protobuf", "invalid protobuf"},
		{"body over the limit", "token-a", make([]byte, 70_000), nil, http.StatusRequestEntityTooLarge, "body_too_large", "over the limit of 65536 bytes"},
		{"decoded size over the limit", "token-a", bomb, nil, http.StatusRequestEntityTooLarge, "decoded_too_large", "decoded body of 1048576 bytes is over the limit of 262144 bytes"},
		{"too many samples", "token-a", snappy.Encode(nil, tooMany), nil, http.StatusRequestEntityTooLarge, "too_many_samples", "more than 50 samples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.post(t, tc.token, tc.body, tc.header)
			require.Equal(t, tc.status, status, body)
			require.Contains(t, body, tc.want)
			require.Positive(t, labelledCounter(t, e, "phoenix_ingest_requests_refused_total", "reason", tc.reason))
		})
	}

	// Nothing of the refused requests is stored; what was there is intact.
	got := query(t, e.st, `phoenix_pipeline_output_series`, t0.Add(time.Minute))
	require.Equal(t, []Series{{
		Labels:  map[string]string{"__name__": "phoenix_pipeline_output_series", "experiment": "exp-1", "host": "host-1", "tenant": "a", "variant": "baseline"},
		Samples: []Sample{{T: t0.Add(time.Minute), V: 7}},
	}}, got)
	require.InDelta(t, 26, e.rejected(t, "request_refused"), 0,
		"the 25 samples of the first series of the request with too many, and the valid series before the truncated one: decoded, appended, rolled back")

	status, _ = e.get(t, "token-a", "query", nil)
	require.Equal(t, http.StatusBadRequest, status, "sanity: the API is up")

	resp, err := e.srv.Client().Get(e.srv.URL + WritePath)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestIngestInvalidSeriesAreRejectedOthersStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{MaxLabelsPerSeries: 6})
	good := series(contract("phoenix_pipeline_output_series", "host-1", "baseline"), smp(t0, 1))
	for _, tc := range []struct {
		name   string
		series prompb.TimeSeries
		want   string
	}{
		{"missing metric name", series([]string{"host", "host-1"}, smp(t0, 1)), "missing metric name"},
		{"empty metric name", series([]string{"__name__", "", "host", "host-1"}, smp(t0, 1)), "missing metric name"},
		{"duplicate label", series([]string{"__name__", "m", "host", "h1", "host", "h2"}, smp(t0, 1)), `duplicate label name "host"`},
		{"duplicate tenant label", series([]string{"__name__", "m", "tenant", "x", "tenant", "y"}, smp(t0, 1)), `duplicate label name "tenant"`},
		{"invalid label name", series([]string{"__name__", "m", "host-name", "h1"}, smp(t0, 1)), `invalid label name "host-name"`},
		{"invalid metric name", series([]string{"__name__", "process.cpu.time"}, smp(t0, 1)), `invalid metric name "process.cpu.time"`},
		{"value not UTF-8", series([]string{"__name__", "m", "host", "\xff\xfe"}, smp(t0, 1)), "not valid UTF-8"},
		{"too many labels", series([]string{"__name__", "m", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6"}, smp(t0, 1)), "more than 6 labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.rejected(t, "invalid_labels")
			status, body := e.write(t, "token-a", good, tc.series)
			require.Equal(t, http.StatusBadRequest, status)
			require.Contains(t, body, "1 of 2 samples rejected (invalid_labels: 1), 1 stored")
			require.Contains(t, body, tc.want)
			require.InDelta(t, before+1, e.rejected(t, "invalid_labels"), 0)
		})
	}
	got := query(t, e.st, `{__name__=~".+"}`, t0)
	require.Len(t, got, 1, "only the valid series is stored")
	require.Equal(t, "phoenix_pipeline_output_series", got[0].Labels["__name__"])
}

func TestIngestOutOfOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{})
	x := contract("phoenix_pipeline_output_datapoints_total", "host-1", "baseline")
	y := contract("phoenix_pipeline_output_datapoints_total", "host-1", "candidate")

	status, body := e.write(t, "token-a", series(x, smp(t0, 10), smp(t0.Add(time.Minute), 20)))
	require.Equal(t, http.StatusNoContent, status, body)

	// An agent resending what is stored: the newest sample is an exact
	// duplicate (accepted), the older one is out of order.
	status, body = e.write(t, "token-a", series(x, smp(t0.Add(time.Minute), 20)))
	require.Equal(t, http.StatusNoContent, status, body)

	status, body = e.write(t, "token-a",
		series(x, smp(t0.Add(30*time.Second), 15), smp(t0.Add(time.Minute), 21), smp(t0.Add(2*time.Minute), 30)),
		series(y, smp(t0.Add(2*time.Minute), 5), smp(t0.Add(90*time.Second), 4), smp(t0.Add(2*time.Minute), 6), smp(t0.Add(2*time.Minute), 5)),
		// The same series twice in one request: the second entry's older
		// sample is out of order, its newer one is stored.
		series(x, smp(t0.Add(100*time.Second), 25), smp(t0.Add(3*time.Minute), 40)),
	)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "5 of 9 samples rejected (out_of_order: 3, duplicate: 2), 4 stored; first rejected: out of order sample at 2026-01-01T12:00:30Z, "+
		`series {__name__="phoenix_pipeline_output_datapoints_total", experiment="exp-1", host="host-1", tenant="a", variant="baseline"}`+"\n", body)
	require.InDelta(t, 3, e.rejected(t, "out_of_order"), 0)
	require.InDelta(t, 2, e.rejected(t, "duplicate"), 0)

	rng, err := e.st.QueryRange(context.Background(), `phoenix_pipeline_output_datapoints_total`, t0, t0.Add(3*time.Minute), 30*time.Second)
	require.NoError(t, err)
	rng = sortSeries(rng)
	require.Len(t, rng, 2)
	at := func(s Series, d time.Duration) float64 {
		for _, p := range s.Samples {
			if p.T.Equal(t0.Add(d)) {
				return p.V
			}
		}
		return math.NaN()
	}
	// baseline: 10 @0, 20 @1m (the 21 was refused), 30 @2m, 40 @3m.
	require.Equal(t, []float64{10, 10, 20, 20, 30, 30, 40}, []float64{at(rng[0], 0), at(rng[0], 30*time.Second), at(rng[0], time.Minute),
		at(rng[0], 90*time.Second), at(rng[0], 2*time.Minute), at(rng[0], 150*time.Second), at(rng[0], 3*time.Minute)})
	// candidate: only 5 @2m; the older 4, the other value 6 and the
	// identical 5 are not stored twice.
	require.Equal(t, []Sample{{T: t0.Add(2 * time.Minute), V: 5}, {T: t0.Add(150 * time.Second), V: 5}, {T: t0.Add(3 * time.Minute), V: 5}}, rng[1].Samples)
}

func TestIngestOutOfOrderWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{OutOfOrderWindow: time.Hour}, WriteConfig{})
	x := contract("phoenix_pipeline_output_series", "host-1", "baseline")
	status, body := e.write(t, "token-a", series(x, smp(t0.Add(2*time.Minute), 2)))
	require.Equal(t, http.StatusNoContent, status, body)
	status, body = e.write(t, "token-a", series(x, smp(t0.Add(time.Minute), 1), smp(t0.Add(3*time.Minute), 3), smp(t0.Add(150*time.Second), 2.5)))
	require.Equal(t, http.StatusNoContent, status, body)
	status, body = e.write(t, "token-a", series(x, smp(t0.Add(-2*time.Hour), 0)))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "too_old: 1")

	rng, err := e.st.QueryRange(context.Background(), `phoenix_pipeline_output_series`, t0.Add(time.Minute), t0.Add(3*time.Minute), 30*time.Second)
	require.NoError(t, err)
	require.Len(t, rng, 1)
	var values []float64
	for _, p := range rng[0].Samples {
		values = append(values, p.V)
	}
	require.Equal(t, []float64{1, 1, 2, 2.5, 3}, values, "the late samples are in place")
}

func TestIngestTooNewHistogramsAndStaleness(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{MaxAhead: time.Minute})
	now := time.Now()
	h := series(contract("phoenix_pipeline_processing_seconds", "host-1", "baseline"))
	h.Histograms = []prompb.Histogram{{Timestamp: now.UnixMilli(), Count: &prompb.Histogram_CountInt{CountInt: 1}}}
	status, body := e.write(t, "token-a",
		series(contract("phoenix_agent_cpu_seconds_total", "host-1", "baseline"), smp(now, 1), smp(now.Add(time.Hour), 2)),
		h,
		series(contract("phoenix_agent_memory_bytes", "host-1", "baseline"), smp(now, 3), prompb.Sample{Timestamp: now.Add(time.Second).UnixMilli(), Value: math.Float64frombits(value.StaleNaN)}),
	)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "2 of 5 samples rejected (too_new: 1, histogram: 1), 3 stored")
	require.InDelta(t, 1, e.rejected(t, "too_new"), 0)
	require.InDelta(t, 1, e.rejected(t, "histogram"), 0)

	got := query(t, e.st, `phoenix_agent_cpu_seconds_total`, now)
	require.Len(t, got, 1)
	// The staleness marker ends the memory series at once.
	require.Empty(t, query(t, e.st, `phoenix_agent_memory_bytes`, now.Add(2*time.Second)))
}

func TestIngestConcurrentWritersAndReaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, WriteConfig{})
	const writers, batches, hosts = 4, 20, 25
	done := make(chan error, writers+1)
	for w := range writers {
		go func() {
			for b := range batches {
				var ss []prompb.TimeSeries
				for h := range hosts {
					ss = append(ss, series(contract("phoenix_pipeline_output_datapoints_total", "host-"+strconv.Itoa(w*hosts+h), "baseline"),
						smp(t0.Add(time.Duration(b)*15*time.Second), float64(b))))
				}
				if status, body := e.write(t, "token-a", ss...); status != http.StatusNoContent {
					done <- &WriteError{StatusCode: status, Message: body}
					return
				}
			}
			done <- nil
		}()
	}
	go func() {
		for range 20 {
			if _, err := e.st.Query(context.Background(), `count(phoenix_pipeline_output_datapoints_total)`, t0.Add(10*time.Minute)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range writers + 1 {
		require.NoError(t, <-done)
	}
	got := query(t, e.st, `count(phoenix_pipeline_output_datapoints_total)`, t0.Add(time.Duration(batches-1)*15*time.Second))
	require.Equal(t, float64(writers*hosts), got[0].Samples[0].V)
}
