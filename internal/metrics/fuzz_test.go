package metrics

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// decodedSeries is what the wire decoder saw of one series, in a form that
// outlives the decoding.
type decodedSeries struct {
	labels     []prompb.Label
	samples    []prompb.Sample
	histograms int
	exemplars  int
}

func decodeAll(data []byte) ([]decodedSeries, error) {
	d := wireDecoder{maxLabels: math.MaxInt, maxSamples: math.MaxInt}
	var out []decodedSeries
	err := d.decode(data, func(ws *wireSeries) error {
		s := decodedSeries{histograms: ws.histograms, exemplars: ws.exemplars}
		for _, l := range ws.labels {
			s.labels = append(s.labels, prompb.Label{Name: string([]byte(l.Name)), Value: string([]byte(l.Value))})
		}
		for _, smp := range ws.samples {
			s.samples = append(s.samples, prompb.Sample{Timestamp: smp.t, Value: smp.v})
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func fuzzSeeds(t testing.TB) [][]byte {
	h := series(contract("phoenix_pipeline_processing_seconds", "host-1", "baseline"))
	h.Histograms = []prompb.Histogram{{Timestamp: 5, Count: &prompb.Histogram_CountInt{CountInt: 3}, Sum: 1.5}}
	h.Exemplars = []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "abc"}}, Value: 1, Timestamp: 4}}
	reqs := []prompb.WriteRequest{
		{},
		{Timeseries: []prompb.TimeSeries{
			series(contract("phoenix_pipeline_output_series", "host-1", "baseline"), smp(t0, 1), smp(t0.Add(time.Second), math.NaN())),
			series([]string{"__name__", "m", "empty", ""}, prompb.Sample{Timestamp: -1, Value: math.Inf(-1)}),
			h,
		}, Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "m", Help: "help"}}},
	}
	var seeds [][]byte
	for _, r := range reqs {
		b, err := r.Marshal()
		require.NoError(t, err)
		seeds = append(seeds, b)
	}
	return append(seeds,
		[]byte{0x0a, 0x80},                   // truncated length
		[]byte{0x0a, 0x02, 0x12, 0x00},       // an empty sample
		[]byte{0x0a, 0x02, 0x0a, 0x00},       // an empty label
		[]byte{0x0b, 0x0c},                   // a group
		[]byte{0x00},                         // field number 0
		[]byte{0x0a, 0x03, 0x12, 0x01, 0x09}, // sample value truncated
	)
}

// FuzzWireDecode checks the allocation-free decoder against the generated
// protobuf code: whatever the generated code reads, the decoder reads the
// same, and no input makes it panic.
func FuzzWireDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeAll(data)
		var want prompb.WriteRequest
		if want.Unmarshal(data) != nil {
			return // the decoder may accept what it skips (histograms, exemplars, metadata)
		}
		if err != nil && strictOnly(err) {
			return
		}
		require.NoError(t, err)
		require.Len(t, got, len(want.Timeseries))
		for i, ws := range want.Timeseries {
			g := got[i]
			require.Equal(t, len(ws.Labels), len(g.labels))
			for j, l := range ws.Labels {
				require.Equal(t, l.Name, g.labels[j].Name)
				require.Equal(t, l.Value, g.labels[j].Value)
			}
			require.Equal(t, len(ws.Samples), len(g.samples))
			for j, s := range ws.Samples {
				require.Equal(t, s.Timestamp, g.samples[j].Timestamp)
				require.Equal(t, math.Float64bits(s.Value), math.Float64bits(g.samples[j].Value))
			}
			require.Equal(t, len(ws.Histograms), g.histograms)
			require.Equal(t, len(ws.Exemplars), g.exemplars)
		}
	})
}

// strictOnly reports whether err is one of the malformed encodings the
// decoder refuses and the generated code tolerates: a group whose end
// marker does not match its start (groups are a deprecated proto2 encoding
// no remote-write sender uses), a field number beyond protobuf's range (the
// generated code truncates it to 32 bits), a 10-byte varint over 64 bits
// (the generated code drops the excess bits).
func strictOnly(err error) bool {
	for _, s := range []string{"end group", "invalid field number", "integer overflow"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

func TestWireDecoderLimits(t *testing.T) {
	t.Parallel()
	data, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series([]string{"__name__", "m", "a", "1", "b", "2"}, smp(t0, 1), smp(t0.Add(time.Second), 2)),
		series([]string{"__name__", "n"}, smp(t0, 1)),
	}}).Marshal()
	require.NoError(t, err)

	d := wireDecoder{maxLabels: 2, maxSamples: 3}
	var seen []int
	require.NoError(t, d.decode(data, func(ws *wireSeries) error {
		seen = append(seen, len(ws.labels))
		if len(ws.labels) == 2 {
			require.True(t, ws.tooManyLabels)
		}
		return nil
	}))
	require.Equal(t, []int{2, 1}, seen)

	d = wireDecoder{maxLabels: 8, maxSamples: 2}
	require.ErrorIs(t, d.decode(data, func(*wireSeries) error { return nil }), errTooManySamples)
}
