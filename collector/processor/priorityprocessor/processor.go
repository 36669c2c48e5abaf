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

// prioritizer classifies process resources. Its memo is guarded by mu.
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
	memo map[memoKey]proc.Priority
	// maxMemo is the memo's bound; a field so that tests can lower it.
	maxMemo int
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
		memo:      make(map[memoKey]proc.Priority),
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

// lookup returns the memoized class of k, classifying and remembering it on
// a miss. The caller holds mu.
func (p *prioritizer) lookup(k memoKey) proc.Priority {
	if pr, ok := p.memo[k]; ok {
		return pr
	}
	pr := p.classify(k)
	if len(p.memo) >= p.maxMemo {
		clear(p.memo)
	}
	// The key's strings point into the batch; copies keep the memo from
	// pinning whole batches in memory.
	p.memo[memoKey{
		executable:  strings.Clone(k.executable),
		commandLine: strings.Clone(k.commandLine),
		owner:       strings.Clone(k.owner),
	}] = pr
	return pr
}

// processMetrics classifies every process resource of md in place.
func (p *prioritizer) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < rms.Len(); i++ {
		p.processResource(rms.At(i).Resource())
	}
	return md, nil
}

// processResource reads the process identity in one pass over the resource's
// attributes and writes phoenix.priority.
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
				k.executable = str(v)
			}
		case proc.AttrCommandLine:
			if p.useCommandLine {
				k.commandLine = str(v)
			}
		case proc.AttrOwner:
			if p.useOwner {
				k.owner = str(v)
			}
		case proc.AttrPriority:
			existing, has = v, true
		}
	}
	if !isProcess || (has && !p.overwrite) {
		return
	}
	name := p.lookup(k).String()
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

// str renders an attribute as a string the way proc.Str does: strings as
// they are, other types (an int owner, say) through Value.AsString.
func str(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}
