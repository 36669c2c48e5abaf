package topkprocessor

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelectTop(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := map[string]func(i, n int) candidate{
		"random": func(i, n int) candidate {
			return candidate{score: float64(rng.IntN(5)), pid: int64(rng.IntN(n + 1)), res: int32(i)}
		},
		"ascending":  func(i, n int) candidate { return candidate{score: float64(i), pid: int64(i), res: int32(i)} },
		"descending": func(i, n int) candidate { return candidate{score: float64(n - i), pid: int64(i), res: int32(i)} },
		"all equal":  func(i, n int) candidate { return candidate{res: int32(i)} },
		"organ pipe": func(i, n int) candidate { return candidate{score: float64(min(i, n-i)), res: int32(i)} },
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			for _, size := range []int{0, 1, 2, 5, 12, 13, 50, 257, 1000} {
				cs := make([]candidate, size)
				for i := range cs {
					cs[i] = shape(i, size)
				}
				sorted := slices.Clone(cs)
				slices.SortFunc(sorted, compare)
				for _, n := range []int{0, 1, 3, size / 2, size - 1, size, size + 3} {
					got := slices.Clone(cs)
					selectTop(got, n)
					m := min(max(n, 0), size)
					require.ElementsMatch(t, resOf(sorted[:m]), resOf(got[:m]), "size %d n %d", size, n)
				}
			}
		})
	}
}

func resOf(cs []candidate) []int32 {
	out := make([]int32, len(cs))
	for i, c := range cs {
		out[i] = c.res
	}
	return out
}
