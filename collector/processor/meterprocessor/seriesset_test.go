package meterprocessor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSeriesSet(t *testing.T) {
	t.Parallel()
	var s seriesSet
	require.Zero(t, s.len())
	s.expire(100) // empty set

	// 0 is a valid hash too; many keys force growth.
	for i := range uint64(10_000) {
		s.put(i*0x9e3779b97f4a7c15, int64(i%10))
	}
	require.Equal(t, 10_000, s.len())
	for i := range uint64(10_000) { // seen again, later
		s.put(i*0x9e3779b97f4a7c15, int64(i%10)+10)
	}
	require.Equal(t, 10_000, s.len())
	s.put(1, 5) // older time than stored for hash 0 (stored as 1) keeps the newer one
	require.Equal(t, 10_000, s.len())

	s.expire(14) // keeps seen 15..19
	require.Equal(t, 5_000, s.len())
	s.expire(14) // nothing more to drop
	require.Equal(t, 5_000, s.len())
	for i := range uint64(10_000) { // the survivors are still found, not re-added
		if int64(i%10)+10 > 14 {
			s.put(i*0x9e3779b97f4a7c15, 20)
		}
	}
	require.Equal(t, 5_000, s.len())
	s.expire(20)
	require.Zero(t, s.len())
	s.put(42, 1)
	require.Equal(t, 1, s.len())
}
