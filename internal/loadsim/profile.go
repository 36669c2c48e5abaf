package loadsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Names of the built-in profiles.
const (
	ProfileRealistic       = "realistic"
	ProfileHighCardinality = "high-cardinality"
	ProfileHighChurn       = "high-churn"
)

// Profile is a kind of host load: how many long-running processes run, what
// share of them use CPU or memory, and how many short-lived processes start
// (and end) each second. Profiles are read-only values; [Profiles] and
// [Lookup] return copies.
type Profile struct {
	// Name is what --profile takes.
	Name string `json:"name"`
	// Description says what the profile reproduces, for people.
	Description string `json:"description"`
	// Processes is the default number of long-running processes.
	Processes int `json:"processes"`
	// MinProcesses and MaxProcesses are the range the product requirements
	// give for the profile; an override may leave it.
	MinProcesses int `json:"min_processes"`
	MaxProcesses int `json:"max_processes"`
	// ChurnRate is the default number of short-lived processes started per
	// second; each ends by itself after a lifetime drawn between
	// MinLifetime and MaxLifetime.
	ChurnRate   float64       `json:"churn_rate"`
	MinLifetime time.Duration `json:"-"`
	MaxLifetime time.Duration `json:"-"`
	// ActiveShare is the share of the long-running processes that burn CPU
	// or hold memory; the others sleep.
	ActiveShare float64 `json:"active_share"`
	// Critical names the critical services (executable names such as nginx,
	// postgres, java) among the first long-running processes, so that a
	// pipeline's retention of critical processes can be checked.
	Critical []string `json:"critical"`

	services   []spec   // the first long-running processes, in order
	families   []family // the other long-running processes
	transients []family // the short-lived processes
	// transientActive is the share of short-lived processes that burn CPU.
	transientActive float64
}

// family is a kind of process whose command line varies with its index.
type family struct {
	// name is the executable name; with numbered it is a format taking the
	// index (e.g. "job-%04d"), so every process of the family has its own.
	name     string
	numbered bool
	weight   int
	// args returns the arguments of the process with index i.
	args func(i int, r *rand.Rand) []string
}

// MaxNameLen is the longest executable name the kernel keeps (its comm):
// longer names are cut, so every simulated name fits.
const MaxNameLen = 15

// criticalServices are the named long-running processes, with a fixed
// command line and workload, whose executable names match the
// product's default critical list ^(nginx|java|postgres|mysql|redis|kubelet|dockerd?)$,
// followed by sshd.
var criticalServices = []spec{
	{argv: []string{"nginx", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"}, work: workload{kind: kindCPU, duty: 0.01}, critical: true},
	{argv: []string{"postgres", "-D", "/var/lib/postgresql/16/main", "-c", "config_file=/etc/postgresql/16/main/postgresql.conf"}, work: workload{kind: kindMemory, memory: 48 << 20}, critical: true},
	{argv: []string{"java", "-Xms256m", "-Xmx512m", "-jar", "/opt/orders/orders-service.jar", "--server.port=8081"}, work: workload{kind: kindMemory, memory: 96 << 20, duty: 0.02}, critical: true},
	{argv: []string{"mysql", "--defaults-file=/etc/mysql/my.cnf", "--datadir=/var/lib/mysql"}, work: workload{kind: kindMemory, memory: 32 << 20}, critical: true},
	{argv: []string{"redis", "/etc/redis/redis.conf", "--port", "6379"}, work: workload{kind: kindMemory, memory: 16 << 20}, critical: true},
	{argv: []string{"kubelet", "--config=/var/lib/kubelet/config.yaml", "--kubeconfig=/etc/kubernetes/kubelet.conf"}, work: workload{kind: kindCPU, duty: 0.01}, critical: true},
	{argv: []string{"dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"}, work: workload{kind: kindIdle}, critical: true},
	{argv: []string{"sshd", "-D", "-f", "/etc/ssh/sshd_config"}, work: workload{kind: kindIdle}},
}

// pick returns the services of criticalServices with these names, in order.
func pick(names ...string) []spec {
	var out []spec
	for _, n := range names {
		for _, s := range criticalServices {
			if s.argv[0] == n {
				out = append(out, s)
			}
		}
	}
	return out
}

var (
	jobNames    = []string{"invoice", "report", "export", "ingest", "resize", "notify", "billing", "sync", "cleanup", "index"}
	tenantNames = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"}
	queueNames  = []string{"default", "mailers", "critical", "low", "webhooks", "media"}
)

func oneOf(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// longRunningFamilies are the usual inhabitants of an application host.
var longRunningFamilies = []family{
	{name: "nginx", weight: 6, args: func(i int, r *rand.Rand) []string {
		return []string{"-c", "/etc/nginx/nginx.conf", "-g", fmt.Sprintf("worker_processes auto; pid /run/nginx-%d.pid;", i)}
	}},
	{name: "postgres", weight: 6, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("--backend=%s@%s", oneOf(r, tenantNames), "appdb"), fmt.Sprintf("--client=10.0.%d.%d:%d", r.IntN(8), 1+r.IntN(250), 40000+i)}
	}},
	{name: "python3", weight: 14, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("/srv/app/jobs/%s_%d.py", oneOf(r, jobNames), i), "--tenant", oneOf(r, tenantNames)}
	}},
	{name: "node", weight: 10, args: func(i int, r *rand.Rand) []string {
		return []string{"/srv/web/server.js", fmt.Sprintf("--port=%d", 3000+i)}
	}},
	{name: "php-fpm", weight: 8, args: func(i int, r *rand.Rand) []string {
		return []string{"--fpm-config", "/etc/php/8.2/fpm/php-fpm.conf", fmt.Sprintf("--pool=www-%d", i)}
	}},
	{name: "gunicorn", weight: 6, args: func(i int, r *rand.Rand) []string {
		return []string{"app.wsgi:application", "--bind", fmt.Sprintf("127.0.0.1:%d", 8000+i), "--workers", "2"}
	}},
	{name: "celery", weight: 6, args: func(i int, r *rand.Rand) []string {
		return []string{"-A", "tasks", "worker", "-Q", oneOf(r, queueNames), fmt.Sprintf("--hostname=worker%d@%%h", i)}
	}},
	{name: "sidekiq", weight: 4, args: func(i int, r *rand.Rand) []string {
		return []string{"-C", "config/sidekiq.yml", "-q", oneOf(r, queueNames), fmt.Sprintf("--tag=shard-%d", i)}
	}},
	{name: "containerd-shim", weight: 8, args: func(i int, r *rand.Rand) []string {
		return []string{"-namespace", "moby", "-id", fmt.Sprintf("%016x", r.Uint64()), "-address", "/run/containerd/containerd.sock"}
	}},
	{name: "bash", weight: 4, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("/opt/scripts/watch-%s-%d.sh", oneOf(r, jobNames), i)}
	}},
	{name: "worker-%03d", numbered: true, weight: 8, args: func(i int, r *rand.Rand) []string {
		return []string{"--queue", oneOf(r, queueNames), fmt.Sprintf("--concurrency=%d", 1+r.IntN(8))}
	}},
	{name: "node_exporter", weight: 2, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("--web.listen-address=127.0.0.1:%d", 9100+i)}
	}},
}

// cardinalityFamilies are many small jobs, most of them with their own
// executable name, all with their own command line.
var cardinalityFamilies = []family{
	{name: "job-%04d", numbered: true, weight: 30, args: func(i int, r *rand.Rand) []string {
		return []string{"--task", fmt.Sprintf("%s-%d", oneOf(r, jobNames), i), "--tenant", oneOf(r, tenantNames)}
	}},
	{name: "python3", weight: 20, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("/srv/app/jobs/%s_%d.py", oneOf(r, jobNames), i), fmt.Sprintf("--shard=%d", r.IntN(64))}
	}},
	{name: "node", weight: 12, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("/srv/functions/fn-%d/index.js", i), fmt.Sprintf("--port=%d", 20000+i)}
	}},
	{name: "php-fpm", weight: 10, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("--pool=%s-%d", oneOf(r, tenantNames), i)}
	}},
	{name: "containerd-shim", weight: 12, args: func(i int, r *rand.Rand) []string {
		return []string{"-namespace", "k8s.io", "-id", fmt.Sprintf("%016x%04x", r.Uint64(), i)}
	}},
	{name: "svc-%04d", numbered: true, weight: 16, args: func(i int, r *rand.Rand) []string {
		return []string{"--listen", fmt.Sprintf("127.0.0.1:%d", 30000+i), "--log-level=info"}
	}},
}

// cronFamilies are the occasional short jobs of an application host.
var cronFamilies = []family{
	{name: "logrotate", weight: 2, args: func(i int, r *rand.Rand) []string {
		return []string{"/etc/logrotate.conf", fmt.Sprintf("--state=/var/lib/logrotate/status.%d", i)}
	}},
	{name: "python3", weight: 4, args: func(i int, r *rand.Rand) []string {
		return []string{fmt.Sprintf("/opt/reports/%s.py", oneOf(r, jobNames)), fmt.Sprintf("--run=%d", i)}
	}},
	{name: "backup.sh", weight: 1, args: func(i int, r *rand.Rand) []string {
		return []string{"--target", fmt.Sprintf("s3://backups/%s/%d", oneOf(r, tenantNames), i)}
	}},
	{name: "cron-%04d", numbered: true, weight: 3, args: func(i int, r *rand.Rand) []string {
		return []string{"--job", oneOf(r, jobNames)}
	}},
}

// churnFamilies are the short commands a busy host runs many times a second.
var churnFamilies = []family{
	{name: "sh", weight: 6, args: func(i int, r *rand.Rand) []string {
		return []string{"-c", fmt.Sprintf("/usr/local/bin/healthcheck --probe=%d", i)}
	}},
	{name: "curl", weight: 5, args: func(i int, r *rand.Rand) []string {
		return []string{"-fsS", fmt.Sprintf("http://127.0.0.1:8080/health?probe=%d", i)}
	}},
	{name: "grep", weight: 3, args: func(i int, r *rand.Rand) []string {
		return []string{"-c", "ERROR", fmt.Sprintf("/var/log/app/%s-%d.log", oneOf(r, jobNames), i)}
	}},
	{name: "python3", weight: 4, args: func(i int, r *rand.Rand) []string {
		return []string{"-m", "tasks.run", fmt.Sprintf("--id=%d", i)}
	}},
	{name: "git", weight: 2, args: func(i int, r *rand.Rand) []string {
		return []string{"fetch", "--quiet", fmt.Sprintf("origin refs/heads/ci-%d", i)}
	}},
	{name: "task-%05d", numbered: true, weight: 4, args: func(i int, r *rand.Rand) []string {
		return []string{"--queue", oneOf(r, queueNames)}
	}},
}

// profiles are the built-in profiles, in the order they are listed.
var profiles = []Profile{
	{
		Name:            ProfileRealistic,
		Description:     "An application host: steady services (nginx, postgres, java, ...) and workers, some burning CPU steadily or in spikes, some holding or growing memory; a few short jobs start and end every minute.",
		Processes:       120,
		MinProcesses:    50,
		MaxProcesses:    200,
		ChurnRate:       0.1,
		MinLifetime:     20 * time.Second,
		MaxLifetime:     90 * time.Second,
		ActiveShare:     0.2,
		services:        criticalServices,
		families:        longRunningFamilies,
		transients:      cronFamilies,
		transientActive: 0.3,
	},
	{
		Name:            ProfileHighCardinality,
		Description:     "Many small jobs and services, mostly idle, each with its own command line (most with their own executable name too); a few are active, and a few critical services run among them.",
		Processes:       1500,
		MinProcesses:    1000,
		MaxProcesses:    2000,
		ChurnRate:       0.2,
		MinLifetime:     10 * time.Second,
		MaxLifetime:     60 * time.Second,
		ActiveShare:     0.02,
		services:        pick("nginx", "postgres", "java", "redis"),
		families:        cardinalityFamilies,
		transients:      cronFamilies,
		transientActive: 0.1,
	},
	{
		Name:            ProfileHighChurn,
		Description:     "Short commands (health checks, scripts, tasks) started and reaped many times a second, each living 0.2-2s, beside a few steady services.",
		Processes:       30,
		MinProcesses:    20,
		MaxProcesses:    50,
		ChurnRate:       25,
		MinLifetime:     200 * time.Millisecond,
		MaxLifetime:     2 * time.Second,
		ActiveShare:     0.1,
		services:        pick("nginx", "postgres", "java"),
		families:        longRunningFamilies,
		transients:      churnFamilies,
		transientActive: 0.05,
	},
}

func init() {
	for i := range profiles {
		p := &profiles[i]
		for _, s := range p.services {
			if s.critical {
				p.Critical = append(p.Critical, s.argv[0])
			}
		}
	}
}

// Profiles returns the built-in profiles.
func Profiles() []Profile {
	out := make([]Profile, len(profiles))
	for i, p := range profiles {
		out[i] = p.clone()
	}
	return out
}

// ProfileNames returns the names of the built-in profiles.
func ProfileNames() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// Lookup returns the profile with this name; the error lists the known
// ones.
func Lookup(name string) (Profile, error) {
	for _, p := range profiles {
		if p.Name == name {
			return p.clone(), nil
		}
	}
	return Profile{}, fmt.Errorf("unknown profile %q (one of %s)", name, strings.Join(ProfileNames(), ", "))
}

func (p Profile) clone() Profile {
	p.Critical = slices.Clone(p.Critical)
	return p
}

// spec is one process to start: its command line and what it does.
type spec struct {
	argv     []string // argv[0] is the executable name
	work     workload
	critical bool
}

// name is the executable name of the process.
func (s spec) name() string { return s.argv[0] }

// longRunning returns the spec of the long-running process in slot i. It
// depends only on the profile, the seed and i, so a process that is
// restarted comes back with its command line.
func (p *Profile) longRunning(seed uint64, i int) spec {
	if i < len(p.services) {
		return p.services[i]
	}
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	f := choose(r, p.families)
	work := workload{kind: kindIdle}
	if r.Float64() < p.ActiveShare {
		work = activeWorkload(r)
	}
	return spec{argv: f.argv(i, r), work: work}
}

// shortLived returns the spec of the n-th short-lived process.
func (p *Profile) shortLived(seed uint64, n int) spec {
	r := rand.New(rand.NewPCG(seed^0x5eed, uint64(n)))
	f := choose(r, p.transients)
	life := p.MinLifetime
	if d := p.MaxLifetime - p.MinLifetime; d > 0 {
		life += time.Duration(r.Int64N(int64(d)))
	}
	work := workload{kind: kindIdle, life: life}
	if r.Float64() < p.transientActive {
		work = workload{kind: kindCPU, duty: 0.1 + 0.3*r.Float64(), life: life}
	}
	return spec{argv: f.argv(n, r), work: work}
}

func (f family) argv(i int, r *rand.Rand) []string {
	name := f.name
	if f.numbered {
		name = fmt.Sprintf(f.name, i)
	}
	return append([]string{name}, f.args(i, r)...)
}

func choose(r *rand.Rand, fs []family) family {
	total := 0
	for _, f := range fs {
		total += f.weight
	}
	n := r.IntN(total)
	for _, f := range fs {
		if n < f.weight {
			return f
		}
		n -= f.weight
	}
	return fs[len(fs)-1]
}

// activeWorkload draws the work of an active long-running process: steady
// CPU, CPU spikes, held memory or memory growing in a sawtooth.
func activeWorkload(r *rand.Rand) workload {
	switch n := r.IntN(10); {
	case n < 4:
		return workload{kind: kindCPU, duty: 0.005 + 0.025*r.Float64()}
	case n < 6:
		return workload{
			kind:       kindSpiky,
			spikeDuty:  0.2 + 0.3*r.Float64(),
			spikeEvery: time.Duration(20+r.IntN(40)) * time.Second,
			spikeFor:   time.Duration(2+r.IntN(4)) * time.Second,
		}
	case n < 9:
		return workload{kind: kindMemory, memory: int64(8+r.IntN(56)) << 20}
	default:
		return workload{kind: kindSawtooth, memory: int64(16+r.IntN(80)) << 20, period: time.Duration(30+r.IntN(60)) * time.Second}
	}
}
