// Package loadsim is Phoenix's process load simulator: it runs real child
// processes on the host so that the hostmetrics process scraper, and the
// pipelines under test, see the load of a profile (realistic,
// high-cardinality, high-churn).
//
// Every process has its own command line, and an executable name chosen by
// the profile (nginx, postgres, java, job-0042, ...): the simulator execs a
// link of that name, in a private directory, to its program, and the
// kernel keeps the link's name as the process's name. Idle processes run
// the system's sleep program; processes that burn CPU or hold memory run
// the phoenix binary itself as a load process, which is why main calls
// [RunChild] first.
//
// No process outlives the simulator: they share one process group that
// Stop kills, each has a parent-death signal (SIGKILL) for when the
// simulator is killed, and load processes also end when their parent
// changes. Every process is reaped.
//
// [Start] returns a running [Simulator]; [ClaimState] and [StopRunning]
// let one command stop a simulator that another runs.
package loadsim
