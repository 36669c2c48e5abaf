package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/api"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
)

const pricingPath = "/api/v1/settings/pricing"

// contractPricing is a tenant's own price list: two vendors, one in EUR.
var contractPricing = []analysis.Pricing{
	{Name: "vendor-gb", Model: analysis.ModelPerGB, UnitPrice: 0.21, FreeTier: 50, Currency: "EUR"},
	{Name: "vendor-series", Model: analysis.ModelPerActiveSeries, UnitPrice: 0.0065, FreeTierPerHost: 200},
}

func pricingOf(t *testing.T, r resp) api.PricingSettings {
	t.Helper()
	var out api.PricingSettings
	require.NoError(t, json.Unmarshal(r.body, &out), "body: %s", r.body)
	return out
}

func TestPricingSettingsOverHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tenantA := tenantOf(t, e, e.keyA)
		pricingFor := api.PricingFor(e.st)

		// Nothing stored: the defaults, marked as such.
		r := e.do(e.keyA, "GET", pricingPath, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Contains(t, string(r.body), `"default":true`)
		got := pricingOf(t, r)
		require.True(t, got.Default)
		require.Zero(t, got.Version)
		require.Nil(t, got.UpdatedAt)
		require.Equal(t, analysis.DefaultPricing(), got.Profiles)
		require.Empty(t, r.header.Get("ETag"))
		profiles, err := pricingFor(ctx, tenantA)
		require.NoError(t, err)
		require.Equal(t, analysis.DefaultPricing(), profiles)

		// The first PUT stores the tenant's own profiles at version 1.
		r = e.do(e.keyA, "PUT", pricingPath, map[string]any{"profiles": contractPricing})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, `"1"`, r.header.Get("ETag"))
		put := pricingOf(t, r)
		require.False(t, put.Default)
		require.Equal(t, int64(1), put.Version)
		require.Equal(t, contractPricing, put.Profiles)
		require.NotNil(t, put.UpdatedAt)
		require.True(t, strings.HasPrefix(put.UpdatedBy, "key:"), put.UpdatedBy)

		r = e.do(e.keyA, "GET", pricingPath, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, string(r.body), `"default":false`)
		require.Equal(t, `"1"`, r.header.Get("ETag"))
		require.Equal(t, put, pricingOf(t, r))
		profiles, err = pricingFor(ctx, tenantA)
		require.NoError(t, err)
		require.Equal(t, contractPricing, profiles, "the cost model sees the stored profiles")

		// Optimistic writes: by body version or by If-Match.
		next := append([]analysis.Pricing(nil), contractPricing...)
		next[0].UnitPrice = 0.19
		r = e.do(e.keyA, "PUT", pricingPath, map[string]any{"profiles": next, "version": 1})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, int64(2), pricingOf(t, r).Version)
		r = e.do(e.keyA, "PUT", pricingPath, map[string]any{"profiles": contractPricing, "version": 1})
		require.Equal(t, http.StatusPreconditionFailed, r.status, "%s", r.body)
		require.Equal(t, "PRECONDITION_FAILED", r.errCode(t))
		r = e.do(e.keyA, "PUT", pricingPath, map[string]any{"profiles": contractPricing}, "If-Match", `"1"`)
		require.Equal(t, http.StatusPreconditionFailed, r.status, "%s", r.body)
		profiles, err = pricingFor(ctx, tenantA)
		require.NoError(t, err)
		require.Equal(t, next, profiles, "refused writes change nothing")
		r = e.do(e.keyA, "PUT", pricingPath, map[string]any{"profiles": contractPricing}, "If-Match", `"2"`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, `"3"`, r.header.Get("ETag"))

		// Without a version the last write wins.
		r = e.do(e.keyA, "PUT", pricingPath, map[string]any{"profiles": next[:1]})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, int64(4), pricingOf(t, r).Version)
		require.Equal(t, next[:1], pricingOf(t, e.do(e.keyA, "GET", pricingPath, nil)).Profiles)

		// Every change is audited.
		r = e.do(e.keyA, "GET", "/api/v1/audit", nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, 4, strings.Count(string(r.body), `"action":"settings.pricing.update"`), "%s", r.body)
	})
}

func TestPricingSettingsTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tenantA, tenantB := tenantOf(t, e, e.keyA), tenantOf(t, e, e.keyB)
		r := e.do(e.keyA, "PUT", pricingPath, map[string]any{"profiles": contractPricing})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)

		// B still has the defaults, over HTTP and for the cost model.
		r = e.do(e.keyB, "GET", pricingPath, nil)
		require.Equal(t, http.StatusOK, r.status)
		got := pricingOf(t, r)
		require.True(t, got.Default)
		require.Equal(t, analysis.DefaultPricing(), got.Profiles)
		require.NotContains(t, string(r.body), "vendor-gb")
		profiles, err := api.PricingFor(e.st)(ctx, tenantB)
		require.NoError(t, err)
		require.Equal(t, analysis.DefaultPricing(), profiles)

		// B cannot write at A's version: it has none of its own.
		r = e.do(e.keyB, "PUT", pricingPath, map[string]any{"profiles": analysis.DefaultPricing()[:1], "version": 1})
		require.Equal(t, http.StatusPreconditionFailed, r.status, "%s", r.body)

		// B's own write leaves A's profiles alone.
		r = e.do(e.keyB, "PUT", pricingPath, map[string]any{"profiles": analysis.DefaultPricing()[:1]})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, int64(1), pricingOf(t, r).Version)
		profiles, err = api.PricingFor(e.st)(ctx, tenantA)
		require.NoError(t, err)
		require.Equal(t, contractPricing, profiles)
		got = pricingOf(t, e.do(e.keyA, "GET", pricingPath, nil))
		require.Equal(t, contractPricing, got.Profiles)
		require.Equal(t, int64(1), got.Version)

		// Neither sees the other's change in its audit log.
		r = e.do(e.keyB, "GET", "/api/v1/audit", nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, 1, strings.Count(string(r.body), `"action":"settings.pricing.update"`), "%s", r.body)
	})
}

func TestPricingSettingsRoles(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		editor, _, err := auth.CreateAPIKey(context.Background(), e.st, tenantOf(t, e, e.keyA), "editor", store.RoleEditor, "test", nil)
		require.NoError(t, err)
		body := map[string]any{"profiles": contractPricing}

		require.Equal(t, http.StatusUnauthorized, e.do("", "GET", pricingPath, nil).status)
		require.Equal(t, http.StatusUnauthorized, e.do("", "PUT", pricingPath, body).status)
		for name, key := range map[string]string{"viewer": e.viewer, "editor": editor} {
			require.Equal(t, http.StatusOK, e.do(key, "GET", pricingPath, nil).status, name)
			r := e.do(key, "PUT", pricingPath, body)
			require.Equal(t, http.StatusForbidden, r.status, "%s: %s", name, r.body)
			require.Equal(t, "FORBIDDEN", r.errCode(t))
		}
		require.True(t, pricingOf(t, e.do(e.keyA, "GET", pricingPath, nil)).Default, "refused writes stored nothing")
		require.Equal(t, http.StatusOK, e.do(e.keyA, "PUT", pricingPath, body).status)
		require.Equal(t, contractPricing, pricingOf(t, e.do(e.viewer, "GET", pricingPath, nil)).Profiles)
	})
}

func TestPricingSettingsValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		good := map[string]any{"name": "ok", "model": "per_gb", "unit_price": 0.3}
		with := func(kv ...any) map[string]any {
			m := map[string]any{}
			for k, v := range good {
				m[k] = v
			}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		}
		many := make([]any, api.MaxPricingProfiles+1)
		for i := range many {
			many[i] = with("name", fmt.Sprintf("p%d", i))
		}
		cases := []struct {
			name    string
			body    any
			headers []string
			fields  []string // every field path the error must name
		}{
			{"empty object", `{}`, nil, []string{"profiles"}},
			{"no profiles", map[string]any{"profiles": []any{}}, nil, []string{"profiles"}},
			{"too many", map[string]any{"profiles": many}, nil, []string{"profiles"}},
			{"negative price", map[string]any{"profiles": []any{good, with("name", "b", "unit_price", -1)}}, nil, []string{"profiles[1].unit_price"}},
			{"unknown model", map[string]any{"profiles": []any{with("model", "per_host")}}, nil, []string{"profiles[0].model"}},
			{"no name", map[string]any{"profiles": []any{with("name", "")}}, nil, []string{"profiles[0].name"}},
			{"several errors", map[string]any{"profiles": []any{good, good, with("name", "c", "free_tier", -5, "free_tier_per_host", -1)}},
				nil, []string{"profiles[1].name", "profiles[2].free_tier", "profiles[2].free_tier_per_host"}},
			{"duplicate name", map[string]any{"profiles": []any{good, with("model", "per_active_series")}}, nil, []string{"profiles[1].name"}},
			{"control character", map[string]any{"profiles": []any{with("name", "a\x00b")}}, nil, []string{"profiles[0].name"}},
			{"long name", map[string]any{"profiles": []any{with("name", strings.Repeat("n", 101))}}, nil, []string{"profiles[0].name"}},
			{"lowercase currency", map[string]any{"profiles": []any{with("currency", "usd")}}, nil, []string{"profiles[0].currency"}},
			{"unknown field", map[string]any{"profiles": []any{with("colour", "red")}}, nil, []string{"colour"}},
			{"wrong type", map[string]any{"profiles": []any{with("unit_price", "cheap")}}, nil, []string{"profiles.unit_price"}},
			{"negative version", map[string]any{"profiles": []any{good}, "version": -1}, nil, []string{"version"}},
			{"bad If-Match", map[string]any{"profiles": []any{good}}, []string{"If-Match", "latest"}, []string{"If-Match"}},
		}
		for _, c := range cases {
			r := e.do(e.keyA, "PUT", pricingPath, c.body, c.headers...)
			require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", c.name, r.body)
			require.Equal(t, "VALIDATION_ERROR", r.errCode(t), c.name)
			var env struct {
				Error struct {
					Fields []struct{ Field, Message string } `json:"fields"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(r.body, &env))
			var named []string
			for _, f := range env.Error.Fields {
				named = append(named, f.Field)
				require.NotEmpty(t, f.Message, c.name)
			}
			require.ElementsMatch(t, c.fields, named, "%s: %s", c.name, r.body)
		}
		r := e.do(e.keyA, "GET", pricingPath, nil)
		require.True(t, pricingOf(t, r).Default, "no invalid write was stored")
	})
}

// TestPricingForErrors checks that a store failure and a stored document
// that does not decode are reported, never replaced by the defaults: a
// verdict priced with the wrong list would look right and be wrong.
func TestPricingForErrors(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	tn, err := st.TenantCreate(ctx, &store.TenantCreateParams{Name: "corrupt"})
	require.NoError(t, err)
	_, err = st.TenantSettingsPut(ctx, &store.TenantSettingsPutParams{TenantID: tn.ID, Pricing: json.RawMessage(`{"profiles":"not a list"}`)})
	require.NoError(t, err)
	profiles, err := api.PricingFor(st)(ctx, tn.ID)
	require.ErrorContains(t, err, "decode pricing of tenant "+tn.ID)
	require.Nil(t, profiles)

	closed, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "closed.db")})
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	profiles, err = api.PricingFor(closed)(ctx, tn.ID)
	require.Error(t, err)
	require.NotErrorIs(t, err, store.ErrNotFound)
	require.Nil(t, profiles)
}

func TestPricingSettingsCorruptDocument(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		_, err := e.st.TenantSettingsPut(context.Background(), &store.TenantSettingsPutParams{
			TenantID: tenantOf(t, e, e.keyA), Pricing: json.RawMessage(`[{"name":"x","unit_price":"free"}]`),
		})
		require.NoError(t, err)
		r := e.do(e.keyA, "GET", pricingPath, nil)
		require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
		require.Equal(t, "INTERNAL_ERROR", r.errCode(t))
		require.NotContains(t, string(r.body), "free", "the cause stays in the log")
	})
}
