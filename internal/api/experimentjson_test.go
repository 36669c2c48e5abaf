package api

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/store"
)

// encode encodes v as serve does.
func encode(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return buf.String()
}

func TestStoredExperimentOutMatchesExperimentOut(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	later := at.Add(time.Hour)
	full, err := json.Marshal(experiment.Spec{
		Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
		Candidate: experiment.PipelineRef{Name: "process-topk-v1", Params: map[string]any{"k": 20, "keep": []any{"a<b>&c"}, "z": 0.5}},
		Target:    experiment.Target{Hosts: []string{"web-1", "web-2"}, Selector: map[string]string{"env": "prod", "app": "<shop>"}},
		Duration:  experiment.Duration(90 * time.Second),
		Mode:      experiment.ModeLive,
	}.WithDefaults())
	require.NoError(t, err)

	cases := []struct {
		name string
		e    store.Experiment
	}{
		{"draft", store.Experiment{ID: "e1", TenantID: "t", Name: "n", State: "draft", Spec: full, Version: 1, CreatedAt: at, UpdatedAt: at}},
		{"spec as another writer spaced it", store.Experiment{ID: "e2", TenantID: "t", Name: "n", State: "draft",
			Spec: []byte(`{ "duration": 300, "baseline": {"name": "b"}, "candidate": {"name": "c"}, "target": {"hosts": ["h"]} }`), Version: 1, CreatedAt: at, UpdatedAt: at}},
		{"empty spec", store.Experiment{ID: "e3", TenantID: "t", Name: "n", State: "draft", Version: 1, CreatedAt: at, UpdatedAt: at}},
		{"finished with a verdict", store.Experiment{ID: "e4", TenantID: "t", OwnerID: "key:k", Name: "n", State: "completed", Spec: full,
			Result: []byte(`{"verdict":"promote","reduction":0.4}`), Version: 7, CreatedAt: at, UpdatedAt: later, StartedAt: &at, EndedAt: &later}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := experiment.FromStore(&c.e)
			require.NoError(t, err)
			// Twice: the first builds the spec's form, the second reuses it.
			for range 2 {
				got, err := storedExperimentOut(&c.e)
				require.NoError(t, err)
				require.Equal(t, encode(t, experimentOut(want)), encode(t, got))
				require.Equal(t,
					encode(t, ExperimentList{Items: []Experiment{experimentOut(want)}, NextCursor: "c"}),
					encode(t, experimentListJSON{Items: []experimentJSON{got}, NextCursor: "c"}))
			}
		})
	}

	_, err = storedExperimentOut(&store.Experiment{ID: "bad", Spec: []byte(`{"duration": true}`)})
	require.ErrorContains(t, err, "decode spec of experiment bad")
}

// TestExperimentJSONFieldsMatchExperiment keeps experimentJSON in step with
// Experiment, the type the OpenAPI document describes.
func TestExperimentJSONFieldsMatchExperiment(t *testing.T) {
	t.Parallel()
	want, got := reflect.TypeFor[Experiment](), reflect.TypeFor[experimentJSON]()
	require.Equal(t, want.NumField(), got.NumField())
	for i := range want.NumField() {
		w, g := want.Field(i), got.Field(i)
		require.Equal(t, w.Name, g.Name)
		require.Equal(t, w.Tag, g.Tag, w.Name)
		if w.Name != "Spec" {
			require.Equal(t, w.Type, g.Type, w.Name)
		}
	}
}

func BenchmarkExperimentOut(b *testing.B) {
	spec, err := json.Marshal(experiment.Spec{
		Baseline:  experiment.PipelineRef{Name: "process-baseline-v1"},
		Candidate: experiment.PipelineRef{Name: "process-topk-v1"},
		Target:    experiment.Target{Hosts: []string{"web-1"}},
	}.WithDefaults())
	require.NoError(b, err)
	e := &store.Experiment{ID: "e1", TenantID: "t", Name: "n", State: "draft", Spec: spec, Version: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	enc := json.NewEncoder(io.Discard)
	b.Run("decode and encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x, err := experiment.FromStore(e)
			if err != nil {
				b.Fatal(err)
			}
			_ = enc.Encode(experimentOut(x))
		}
	})
	b.Run("stored form", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x, err := storedExperimentOut(e)
			if err != nil {
				b.Fatal(err)
			}
			_ = enc.Encode(x)
		}
	})
}
