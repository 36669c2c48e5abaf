package sqlite

import "context"

// OpenAtVersion is Open applying migrations only up to version: the database
// an older Phoenix left behind.
func OpenAtVersion(ctx context.Context, opts Options, version int) (*Store, error) {
	return open(ctx, opts, version)
}
