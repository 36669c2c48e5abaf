package store

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

var idGen struct {
	sync.Mutex
	lastMS int64
	seq    uint16 // 12 bits used
}

// NewID returns a new UUIDv7 (RFC 9562) in its canonical 36-character form.
// IDs from one process are strictly increasing: within one millisecond the
// 12-bit rand_a field is a counter (RFC 9562 method 3), so sorting by ID sorts
// by creation order. It is safe for concurrent use.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never returns an error since Go 1.24

	idGen.Lock()
	ms := time.Now().UnixMilli()
	if ms <= idGen.lastMS {
		// Same millisecond, or the wall clock stepped back: stay on the last
		// millisecond and count up so IDs keep increasing.
		ms = idGen.lastMS
		idGen.seq++
		if idGen.seq > 0x0fff {
			ms++
			idGen.seq = 0
		}
	} else {
		idGen.seq = uint16(b[6]&0x07)<<8 | uint16(b[7]) // random start, top bit clear leaves room to count
	}
	idGen.lastMS = ms
	seq := idGen.seq
	idGen.Unlock()

	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	b[6] = 0x70 | byte(seq>>8)&0x0f
	b[7] = byte(seq)
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant

	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}
