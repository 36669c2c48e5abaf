package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, ""},
		{DefaultOptions(), ""},
		{Options{Retention: -time.Hour}, "retention: must not be negative"},
		{Options{Retention: time.Minute}, "retention: must be at least 1h"},
		{Options{OutOfOrderWindow: -1}, "out_of_order_window: must not be negative"},
		{Options{QueryTimeout: -1}, "query_timeout: must not be negative"},
		{Options{MaxSamples: -1}, "max_samples: must not be negative"},
		{Options{MaxConcurrentQueries: -1}, "max_concurrent_queries: must not be negative"},
		{Options{LookbackDelta: -1}, "lookback_delta: must not be negative"},
	} {
		err := tc.opts.Validate()
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tc.want)
		_, err = Open(t.TempDir(), tc.opts)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestWriteConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  WriteConfig
		want string
	}{
		{WriteConfig{}, ""},
		{WriteConfig{MaxBodyBytes: -1}, "max_body_bytes: must not be negative"},
		{WriteConfig{MaxDecodedBytes: -1}, "max_decoded_bytes: must not be negative"},
		{WriteConfig{MaxSamplesPerRequest: -1}, "max_samples_per_request: must not be negative"},
		{WriteConfig{MaxLabelsPerSeries: -1}, "max_labels_per_series: must not be negative"},
		{WriteConfig{MaxAhead: -1}, "max_ahead: must not be negative"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tc.want)
	}
}

func TestDefaultsApplied(t *testing.T) {
	t.Parallel()
	st := openStore(t, Options{})
	require.Equal(t, DefaultOptions(), withoutDeps(st.Options()))
}

func withoutDeps(o Options) Options {
	o.Logger, o.Registerer = nil, nil
	return o
}

// writeEveryMinute stores one sample a minute of one series over span,
// starting at t0, through the ingest path.
func writeEveryMinute(t *testing.T, st *Store, span time.Duration) {
	t.Helper()
	var samples []prompb.Sample
	for d := time.Duration(0); d < span; d += time.Minute {
		samples = append(samples, smp(t0.Add(d), float64(d/time.Minute)))
	}
	data, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(contract("phoenix_pipeline_output_series", "host-1", "baseline"), samples...),
	}}).Marshal()
	require.NoError(t, err)
	stats, err := st.appendWriteRequest(context.Background(), "a", data,
		appendLimits{maxSamples: 1 << 20, maxLabels: 32, maxAhead: time.Minute}, newAppendScratch())
	require.NoError(t, err)
	require.Equal(t, len(samples), stats.appended)
}

func TestRetentionIsHonoured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		retention time.Duration
		earlyKept bool
	}{
		{"6h retention drops the first hours", 6 * time.Hour, false},
		{"default 15d retention keeps them", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, Options{Retention: tc.retention})
			writeEveryMinute(t, st, 24*time.Hour)
			// Persist the head into blocks; retention applies to blocks.
			require.NoError(t, st.db.Compact(context.Background()))
			require.NotEmpty(t, st.db.Blocks())

			early := query(t, st, `phoenix_pipeline_output_series`, t0.Add(time.Hour))
			late := query(t, st, `phoenix_pipeline_output_series`, t0.Add(23*time.Hour))
			require.Len(t, late, 1)
			require.InDelta(t, 23*60, late[0].Samples[0].V, 0)
			if tc.earlyKept {
				require.Len(t, early, 1)
				require.InDelta(t, 60, early[0].Samples[0].V, 0)
				require.LessOrEqual(t, st.db.Blocks()[0].MinTime(), t0.UnixMilli())
				return
			}
			require.Empty(t, early)
			oldest := time.UnixMilli(st.db.Blocks()[0].MinTime())
			require.True(t, oldest.After(t0.Add(12*time.Hour)), "oldest block starts at %s", oldest)
		})
	}
}

func TestReopenReplaysTheWriteAheadLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	require.NoError(t, err)
	writeEveryMinute(t, st, 10*time.Minute)
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "Close is idempotent")

	_, err = st.Query(context.Background(), "1", t0)
	require.ErrorIs(t, err, ErrClosed)

	st, err = Open(dir, Options{})
	require.NoError(t, err)
	defer st.Close()
	got := query(t, st, `phoenix_pipeline_output_series`, t0.Add(9*time.Minute))
	require.Len(t, got, 1)
	require.InDelta(t, 9, got[0].Samples[0].V, 0)
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	t.Parallel()
	st, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	wh, err := NewWriteHandler(st, testAuth, WriteConfig{}, WriteSettings{})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(WritePath, wh)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	require.NoError(t, st.Close())
	e := &env{st: st, srv: srv}
	status, body := e.write(t, "token-a", series(contract("m", "h", "v"), smp(t0, 1)))
	require.Equal(t, http.StatusServiceUnavailable, status, body)
}

func TestStoreQueries(t *testing.T) {
	t.Parallel()
	st := openStore(t, Options{})
	writeEveryMinute(t, st, 10*time.Minute)
	ctx := context.Background()

	got, err := st.Query(ctx, `scalar(phoenix_pipeline_output_series) * 2`, t0.Add(5*time.Minute))
	require.NoError(t, err)
	require.Equal(t, []Series{{Labels: map[string]string{}, Samples: []Sample{{T: t0.Add(5 * time.Minute), V: 10}}}}, got)

	_, err = st.Query(ctx, `sum(`, t0)
	require.ErrorIs(t, err, ErrBadQuery)
	_, err = st.Query(ctx, `"a string"`, t0)
	require.ErrorIs(t, err, ErrBadQuery)
	_, err = st.QueryRange(ctx, `phoenix_pipeline_output_series[5m]`, t0, t0.Add(time.Minute), time.Minute)
	require.ErrorIs(t, err, ErrBadQuery, "a range vector cannot be a range query")
	_, err = st.QueryRange(ctx, `up`, t0, t0.Add(time.Minute), 0)
	require.ErrorIs(t, err, ErrBadQuery)
	_, err = st.QueryRange(ctx, `up`, t0.Add(time.Minute), t0, time.Minute)
	require.ErrorIs(t, err, ErrBadQuery)

	// MaxSamples bounds a query.
	small := openStore(t, Options{MaxSamples: 5})
	writeEveryMinute(t, small, 10*time.Minute)
	_, err = small.Query(ctx, `phoenix_pipeline_output_series[10m]`, t0.Add(10*time.Minute))
	require.ErrorContains(t, err, "too many samples")
	require.NotErrorIs(t, err, ErrBadQuery)

	// A cancelled context stops a query.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = st.Query(cctx, `phoenix_pipeline_output_series`, t0)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrBadQuery)
}
