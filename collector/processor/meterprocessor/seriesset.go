package meterprocessor

// seriesSet maps series hashes to the time they were last seen. It is an
// open-addressing table with linear probing over the hashes themselves
// (already well mixed), which updates an existing series without hashing
// again and keeps each slot in one cache line with its timestamp.
type seriesSet struct {
	slots []seriesSlot
	n     int
}

type seriesSlot struct {
	hash uint64 // 0 marks an empty slot
	seen int64
}

const minSeriesSlots = 64

// put records that series h was seen at now.
func (s *seriesSet) put(h uint64, now int64) {
	if h == 0 {
		h = 1
	}
	if (s.n+1)*2 > len(s.slots) {
		s.resize(max(minSeriesSlots, len(s.slots)*2))
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.hash == h {
			if now > sl.seen {
				sl.seen = now
			}
			return
		}
		if sl.hash == 0 {
			sl.hash, sl.seen = h, now
			s.n++
			return
		}
	}
}

// len returns the number of series held.
func (s *seriesSet) len() int { return s.n }

// expire drops the series last seen at or before cutoff.
func (s *seriesSet) expire(cutoff int64) {
	live := 0
	for i := range s.slots {
		if sl := &s.slots[i]; sl.hash != 0 && sl.seen > cutoff {
			live++
		}
	}
	if live == s.n {
		return
	}
	old := s.slots
	s.slots, s.n = nil, 0
	if live == 0 {
		return
	}
	size := minSeriesSlots
	for size < live*4 {
		size *= 2
	}
	s.slots = make([]seriesSlot, size)
	for _, sl := range old {
		if sl.hash != 0 && sl.seen > cutoff {
			s.put(sl.hash, sl.seen)
		}
	}
}

func (s *seriesSet) resize(size int) {
	old := s.slots
	s.slots, s.n = make([]seriesSlot, size), 0
	for _, sl := range old {
		if sl.hash != 0 {
			s.put(sl.hash, sl.seen)
		}
	}
}
