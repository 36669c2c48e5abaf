package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/phoenix/platform/internal/store"
)

// benchSpec is an experiment spec of realistic size.
var benchSpec = json.RawMessage(`{"baseline":"process-baseline-v1","candidate":"process-topk-v1",` +
	`"hosts":["web-01","web-02","web-03"],"duration":"30m","critical":"^(nginx|postgres|java)$",` +
	`"candidate_params":{"k":20,"metric":"cpu"},"mode":"shadow"}`)

// seedExperiments creates a tenant with n experiments and returns the tenant
// and the experiment IDs.
func seedExperiments(b *testing.B, s store.Store, n int) (string, []string) {
	b.Helper()
	c := ctx(b)
	tn, err := s.TenantCreate(c, &store.TenantCreateParams{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range n {
		e, err := s.ExperimentCreate(c, &store.ExperimentCreateParams{
			TenantID: tn.ID, OwnerID: fmt.Sprint("owner-", i%10), Name: fmt.Sprint("exp-", i),
			State: []string{"draft", "running", "completed"}[i%3], Spec: benchSpec,
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = e.ID
	}
	return tn.ID, ids
}

// BenchmarkExperimentGet measures ExperimentGet by primary key on a tenant
// with 1,000 experiments.
func BenchmarkExperimentGet(b *testing.B, s store.Store) {
	tenant, ids := seedExperiments(b, s, 1000)
	c := ctx(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.ExperimentGet(c, tenant, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkExperimentList measures ExperimentList pages of 50 on a tenant
// with 1,000 experiments: the first page, a page deep in the list (after 900
// rows, through the cursor), and a page filtered by state and owner.
func BenchmarkExperimentList(b *testing.B, s store.Store) {
	tenant, _ := seedExperiments(b, s, 1000)
	c := ctx(b)

	deep := ""
	p := &store.ExperimentListParams{TenantID: tenant, Limit: 100}
	for range 9 {
		page, err := s.ExperimentList(c, p)
		if err != nil {
			b.Fatal(err)
		}
		p.Cursor = page.NextCursor
		deep = page.NextCursor
	}

	cases := []struct {
		name string
		p    store.ExperimentListParams
		want int
	}{
		{"first_page", store.ExperimentListParams{TenantID: tenant, Limit: 50}, 50},
		{"deep_page", store.ExperimentListParams{TenantID: tenant, Limit: 50, Cursor: deep}, 50},
		{"filtered", store.ExperimentListParams{TenantID: tenant, Limit: 50, States: []string{"running"}, OwnerID: "owner-1"}, 34},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.ExperimentList(c, &tc.p)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Items) != tc.want {
					b.Fatalf("got %d rows, want %d", len(page.Items), tc.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tc.want), "ns/row")
		})
	}
}
