// Package sqlfile reads the SQL that Phoenix's store drivers keep in .sql
// files: named query blocks ("-- name: x") embedded in each driver.
package sqlfile

import (
	"bufio"
	"fmt"
	"io/fs"
	"strings"
)

// Queries reads named blocks from every file of fsys matching pattern. A block
// starts at a "-- name: x" line; other comment lines are dropped; the text is
// trimmed of surrounding space and a final semicolon.
func Queries(fsys fs.FS, pattern string) (map[string]string, error) {
	files, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var name string
		var b strings.Builder
		flush := func() error {
			if name == "" {
				return nil
			}
			if _, dup := out[name]; dup {
				return fmt.Errorf("%s: query %q defined twice", f, name)
			}
			out[name] = strings.TrimSuffix(strings.TrimSpace(b.String()), ";")
			b.Reset()
			return nil
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			line := sc.Text()
			trimmed := strings.TrimSpace(line)
			if n, ok := strings.CutPrefix(trimmed, "-- name:"); ok {
				if err := flush(); err != nil {
					return nil, err
				}
				name = strings.TrimSpace(n)
				continue
			}
			if strings.HasPrefix(trimmed, "--") || name == "" {
				continue
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
