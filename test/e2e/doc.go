// Package e2e runs the acceptance matrix of the product requirements
// (AT-P01 to AT-P07, and a server restart, promotion and rollback) against
// the real phoenix binary on this machine.
//
// TestMain builds ./cmd/phoenix once (or uses PHOENIX_E2E_BINARY). Each test
// starts `phoenix dev` (the server and an agent for this host in one
// process) on a free port and its own data directory, drives it with the
// command line (-o json) as a user would, and loads the host with
// `phoenix loadsim`. Every figure the tests assert on comes from the run and
// is printed with t.Log, so `go test -v` shows the measured matrix.
//
// The suite takes minutes: `go test -short` skips it. Outside CI a missing
// prerequisite (Linux, the go command, sleep) skips it with the reason;
// with CI=true it fails. Run it with:
//
//	go test -count=1 -v -timeout 20m ./test/e2e
//
// The tests mostly wait for scrapes and experiments, so they run side by
// side: TestMain raises -test.parallel to 4 unless it is given. Tests that
// depend on the host's process count (the adaptive filter) hold the host
// alone; the others share it.
package e2e
