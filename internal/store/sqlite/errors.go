package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/phoenix/platform/internal/store"
)

// translate maps driver errors to the store sentinels; other errors pass
// through unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", store.ErrConflict, se.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: a referenced row (tenant or experiment) does not exist", store.ErrNotFound)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL, sqlite3.SQLITE_CONSTRAINT_DATATYPE:
			return fmt.Errorf("%w: %s", store.ErrInvalid, se.Error())
		}
	}
	return err
}

// cursor is a decoded page position; ok is false on the first page.
type cursor struct {
	store.Cursor
	ok bool
}

func decodeCursor(s string) (cursor, error) {
	c, ok, err := store.DecodeCursor(s)
	return cursor{Cursor: c, ok: ok}, err
}
