package sqlfile_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store/sqlfile"
)

func TestQueries(t *testing.T) {
	fsys := fstest.MapFS{
		"query/a.sql": {Data: []byte("-- leading comment\n-- name: one\nSELECT 1;\n-- a note\n-- name: two\nSELECT\n  2;\n")},
		"query/b.txt": {Data: []byte("-- name: ignored\nSELECT 3;\n")},
	}
	qs, err := sqlfile.Queries(fsys, "query/*.sql")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"one": "SELECT 1", "two": "SELECT\n  2"}, qs)

	fsys["query/c.sql"] = &fstest.MapFile{Data: []byte("-- name: one\nSELECT 9;\n")}
	_, err = sqlfile.Queries(fsys, "query/*.sql")
	require.ErrorContains(t, err, `query "one" defined twice`)
}
