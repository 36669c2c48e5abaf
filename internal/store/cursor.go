package store

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page limits shared by every List method.
const (
	// DefaultPageLimit is the page size used when a List params Limit is zero
	// or negative.
	DefaultPageLimit = 50
	// MaxPageLimit is the largest page a List method returns; larger limits
	// are lowered to it.
	MaxPageLimit = 500
)

// Page is one page of a List result, newest first.
type Page[T any] struct {
	// Items holds at most the requested limit of rows.
	Items []T
	// NextCursor is passed as the Cursor of the next call to continue after
	// the last item; empty when this is the last page.
	NextCursor string
}

// PageLimit returns limit bounded to [1, MaxPageLimit], with DefaultPageLimit
// for zero or negative values.
func PageLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageLimit
	case limit > MaxPageLimit:
		return MaxPageLimit
	default:
		return limit
	}
}

// Cursor is the decoded position of a page boundary: the (created_at, id) of
// the last row returned. Lists are ordered by (created_at DESC, id DESC), so
// the next page holds the rows strictly before this position. Rows inserted
// while a client pages through a list sort before the first page (they are
// newer) and never shift the pages that follow, so paging neither repeats nor
// skips a row.
type Cursor struct {
	// Time is the created_at (or at, for the audit log) of the last row.
	Time time.Time
	// ID is the ID of the last row.
	ID string
}

const cursorVersion = "1"

// Encode returns the opaque, URL-safe text form of c.
func (c Cursor) Encode() string {
	raw := cursorVersion + ":" + strconv.FormatInt(c.Time.UnixMicro(), 10) + ":" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor parses a cursor produced by [Cursor.Encode]. The empty string
// decodes to the zero Cursor with ok false (start from the newest row). A
// malformed cursor yields an error wrapping [ErrInvalid].
func DecodeCursor(s string) (c Cursor, ok bool, err error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false, invalid("cursor: not a cursor returned by a list call")
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || parts[0] != cursorVersion || parts[2] == "" {
		return Cursor{}, false, invalid("cursor: not a cursor returned by a list call")
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return Cursor{}, false, invalid("cursor: not a cursor returned by a list call")
	}
	return Cursor{Time: time.UnixMicro(us).UTC(), ID: parts[2]}, true, nil
}

// NextPage trims rows fetched with limit+1 to limit and, when a row past the
// limit was present, sets NextCursor from the last kept row. key returns the
// (time, id) ordering key of a row. Implementations use it to build every
// [Page].
func NextPage[T any](rows []T, limit int, key func(T) (time.Time, string)) *Page[T] {
	p := &Page[T]{Items: rows}
	if len(rows) > limit {
		p.Items = rows[:limit]
		t, id := key(p.Items[limit-1])
		p.NextCursor = Cursor{Time: t, ID: id}.Encode()
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}
