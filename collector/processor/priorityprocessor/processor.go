package priorityprocessor

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// maxMemo bounds the memo of classifications; it is cleared when full.
const maxMemo = 16384

// memoKey is the identity a classification depends on. Fields that no rule
// tests stay empty so that, for example, unique command lines do not defeat
// the memo when only executable names are matched.
type memoKey struct {
	executable  string
	commandLine string
	owner       string
}

// prioritizer classifies process resources. Its memo and hints are guarded
// by mu.
type prioritizer struct {
	rules     []compiledRule
	def       proc.Priority
	overwrite bool
	// useExecutable, useCommandLine and useOwner tell which attributes some
	// rule tests and therefore belong to the memo key.
	useExecutable  bool
	useCommandLine bool
	useOwner       bool

	mu   sync.Mutex
	memo map[memoKey]classified
	// maxMemo is the memo's bound; a field so that tests can lower it.
	maxMemo int
	// prev holds the classifications of the previous batch's process
	// resources in batch order, and next those of the batch being
	// processed; cursor is the position in prev expected to match the next
	// process resource. Scrapes list a host's processes in the same order
	// every interval, so most resources are classified by comparing their
	// key with prev[cursor] instead of hashing it for the memo (see
	// classifyAt).
	prev, next []classified
	cursor     int
}

// classified is a key with the name of its class, kept so that writing it
// costs no call to proc.Priority.String. Its strings are owned by the
// processor, never by a batch.
type classified struct {
	key  memoKey
	name string
}

// newPrioritizer compiles cfg. It fails on the same configurations that
// Config.Validate rejects.
func newPrioritizer(cfg *Config) (*prioritizer, error) {
	def, err := cfg.defaultPriority()
	if err != nil {
		return nil, fmt.Errorf("default_priority: %w", err)
	}
	p := &prioritizer{
		def:       def,
		overwrite: cfg.Overwrite,
		memo:      make(map[memoKey]classified),
		maxMemo:   maxMemo,
	}
	for i, r := range cfg.Rules {
		cr, err := r.compile(i)
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, cr)
		p.useExecutable = p.useExecutable || cr.executable != nil
		p.useCommandLine = p.useCommandLine || cr.commandLine != nil
		p.useOwner = p.useOwner || cr.owner != nil
	}
	return p, nil
}

// classify runs the rules on one triple; the first match wins.
func (p *prioritizer) classify(k memoKey) proc.Priority {
	for i := range p.rules {
		r := &p.rules[i]
		if r.executable != nil && !r.executable.MatchString(k.executable) {
			continue
		}
		if r.commandLine != nil && !r.commandLine.MatchString(k.commandLine) {
			continue
		}
		if r.owner != nil && !r.owner.MatchString(k.owner) {
			continue
		}
		return r.priority
	}
	return p.def
}

// lookup returns the memoized classification of k, classifying and
// remembering it on a miss. The caller holds mu.
func (p *prioritizer) lookup(k memoKey) classified {
	if c, ok := p.memo[k]; ok {
		return c
	}
	if len(p.memo) >= p.maxMemo {
		clear(p.memo)
	}
	// The key's strings point into the batch; copies keep the memo (and the
	// hints, which share them) from pinning whole batches in memory.
	c := classified{
		key: memoKey{
			executable:  strings.Clone(k.executable),
			commandLine: strings.Clone(k.commandLine),
			owner:       strings.Clone(k.owner),
		},
		name: p.classify(k).String(),
	}
	p.memo[c.key] = c
	return c
}

// maxHints bounds the process resources per batch whose classification is
// remembered for the next batch's hints; resources past it use the memo.
const maxHints = 1 << 16

// classifyAt returns the class of the next process resource of the batch,
// whose key is k. It first compares k with the classification at the same
// place of the previous batch (and with the one after it, in case a process
// exited); only when neither matches does it look k up in the memo, and
// then it leaves the cursor where it was, in case k is a new process. A
// stale hint is never wrong: a key's class depends only on the key. The
// caller holds mu.
func (p *prioritizer) classifyAt(k memoKey) string {
	var c classified
	switch j := p.cursor; {
	case j < len(p.prev) && p.prev[j].key.is(k):
		c = p.prev[j]
		p.cursor++
	case j+1 < len(p.prev) && p.prev[j+1].key.is(k):
		c = p.prev[j+1]
		p.cursor += 2
	default:
		c = p.lookup(k)
	}
	if len(p.next) < maxHints {
		p.next = append(p.next, c)
	}
	return c.name
}

// is reports whether m equals k. Written out, the comparison is inlined,
// where == on the struct calls a generated function.
func (m *memoKey) is(k memoKey) bool {
	return m.executable == k.executable && m.owner == k.owner && m.commandLine == k.commandLine
}

// processMetrics classifies every process resource of md in place.
func (p *prioritizer) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cursor = 0
	p.next = p.next[:0]
	for i := 0; i < rms.Len(); i++ {
		p.processResource(rms.At(i).Resource())
	}
	p.prev, p.next = p.next, p.prev
	return md, nil
}

// processResource reads the process identity in one pass over the resource's
// attributes and writes phoenix.priority.
//
// String values are read inline through Value.Str, which is "" for other
// types, and only those through proc.StrValue: this loop runs for every
// attribute of every resource, and a call in it costs more than the read, as
// the loop's registers are saved and restored around it.
func (p *prioritizer) processResource(res pcommon.Resource) {
	attrs := res.Attributes()
	var (
		k         memoKey
		isProcess bool
		existing  pcommon.Value
		has       bool
	)
	for key, v := range attrs.All() {
		switch key {
		case proc.AttrPID:
			isProcess = true
		case proc.AttrExecutableName:
			isProcess = true
			if p.useExecutable {
				if k.executable = v.Str(); k.executable == "" {
					k.executable = proc.StrValue(v)
				}
			}
		case proc.AttrCommandLine:
			if p.useCommandLine {
				if k.commandLine = v.Str(); k.commandLine == "" {
					k.commandLine = proc.StrValue(v)
				}
			}
		case proc.AttrOwner:
			if p.useOwner {
				if k.owner = v.Str(); k.owner == "" {
					k.owner = proc.StrValue(v)
				}
			}
		case proc.AttrPriority:
			existing, has = v, true
		}
	}
	if !isProcess || (has && !p.overwrite) {
		return
	}
	name := p.classifyAt(k)
	if has {
		if existing.Type() != pcommon.ValueTypeStr || existing.Str() != name {
			existing.SetStr(name)
		}
		return
	}
	// Grow the attribute slice by exactly one: the append in PutStr would
	// double it.
	attrs.EnsureCapacity(attrs.Len() + 1)
	attrs.PutStr(proc.AttrPriority, name)
}
