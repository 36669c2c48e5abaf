package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
)

func TestTracedRecordsSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	raw, err := sqlite.Open(context.Background(), sqlite.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	st := store.Traced(raw, "sqlite")
	defer st.Close()
	ctx := context.Background()
	tn, err := st.TenantCreate(ctx, &store.TenantCreateParams{Name: "acme"})
	require.NoError(t, err)
	_, err = st.ExperimentGet(ctx, tn.ID, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.TenantCreate(ctx, &store.TenantCreateParams{Name: "acme"})
	require.ErrorIs(t, err, store.ErrConflict)

	spans := exp.GetSpans()
	require.Len(t, spans, 3)
	require.Equal(t, "store.TenantCreate", spans[0].Name)
	require.Equal(t, "store.ExperimentGet", spans[1].Name)
	require.Equal(t, codes.Unset, spans[1].Status.Code, "not found is an answer, not a failure")
	require.Equal(t, codes.Error, spans[2].Status.Code)
}
