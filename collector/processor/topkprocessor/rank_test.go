package topkprocessor

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBestOf(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := map[string]func(i, n int) entry{
		"random": func(i, n int) entry {
			return entry{score: float64(rng.IntN(5)), pid: int64(rng.IntN(n + 1)), res: int32(i)}
		},
		"ascending":  func(i, n int) entry { return entry{score: float64(i), pid: int64(i), res: int32(i)} },
		"descending": func(i, n int) entry { return entry{score: float64(n - i), pid: int64(i), res: int32(i)} },
		"all equal":  func(i, n int) entry { return entry{res: int32(i)} },
		"organ pipe": func(i, n int) entry { return entry{score: float64(min(i, n-i)), res: int32(i)} },
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			for _, size := range []int{0, 1, 2, 5, 12, 13, 50, 257, 1000} {
				es := make([]entry, size)
				for i := range es {
					es[i] = shape(i, size)
				}
				sorted := slices.Clone(es)
				slices.SortFunc(sorted, func(a, b entry) int {
					switch {
					case before(&a, &b):
						return -1
					case before(&b, &a):
						return 1
					default:
						return 0
					}
				})
				for _, n := range []int{0, 1, 3, size / 2, size - 1, size, size + 3} {
					order := make([]int32, size)
					for i := range order {
						order[i] = int32(i)
					}
					m := min(max(n, 0), size)
					got := []int32{}
					for _, j := range bestOf(es, order, m, nil) {
						got = append(got, es[j].res)
					}
					require.Equal(t, resOf(sorted[:m]), got, "size %d n %d", size, n)
				}
			}
		})
	}
}

func resOf(es []entry) []int32 {
	out := make([]int32, len(es))
	for i, e := range es {
		out[i] = e.res
	}
	return out
}
