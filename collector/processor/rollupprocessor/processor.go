package rollupprocessor

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// MaxStatePerGroup bounds the state one group keeps: its distinct scopes,
// metrics and series (metric and data point attributes) together. Points
// that would need more are dropped and counted with reason series_limit, so
// that malformed input with unbounded names or attribute values cannot grow
// the state without bound. Process metrics from hostmetrics need about a
// dozen per group.
const MaxStatePerGroup = 4096

// maxHints bounds the resource positions for which the processor remembers
// the member folded there in the previous batch.
const maxHints = 1 << 16

// Group names used when the grouping attribute is missing or not wanted.
const (
	// GroupOther is the group of every folded process with group_by: other.
	GroupOther = "other"
	// GroupUnknown is the group of a folded process without
	// process.executable.name with group_by: executable.
	GroupUnknown = "unknown"
)

// rollup folds process resources into group series. All its state is behind
// mu, so ConsumeMetrics may be called concurrently.
type rollup struct {
	cfg Config
	cnt counters
	now func() time.Time

	mu        sync.Mutex
	groups    map[groupKey]*group
	epoch     uint64 // one per processed batch (interval)
	lastSweep int64
	// scratch, reused across batches
	touched []*group
	// hint is the member folded at each resource position of the previous
	// batch.
	hint    []*member
	buf     []byte
	kvs     []keyValue
	pending []pendingCounter
	// rec names the series (seriesAgg.idx) of each point of the resource
	// being folded, -1 for a point not folded; recOK is false when the
	// resource has anything else (histograms, empty metrics or scopes).
	rec        []int32
	recOK      bool
	resTouched int
	stats      batchStats
	// reused and rebuilt count the group outputs written over their template
	// and rebuilt from the state (tests read them).
	reused, rebuilt uint64
}

type batchStats struct {
	folded, unsupported, invalid, limit int
}

type groupKey struct {
	host, key string
}

// group is the state of one (host, group key) series set.
type group struct {
	host, key string
	dead      bool   // forgotten by sweep
	created   uint64 // epoch of creation: start may still move earlier
	epoch     uint64 // last epoch a process was folded into it
	lastSeen  int64
	start     pcommon.Timestamp
	nMembers  int // processes folded in epoch
	nTouched  int // series updated in epoch
	nSeries   int
	nCounters int
	nState    int // scopes, metrics and series, bounded by MaxStatePerGroup
	members   map[memberKey]*member
	scopes    []*scopeAgg

	// tmpl is the first resource folded into the group in tmplEpoch that
	// contributed a point. It stays in the batch and is rewritten into the
	// group's output, in place: when tmplOK (tmplSeries names the series of
	// each of its points, in order, and they are exactly the series updated
	// in the interval), only its attributes and values are written.
	tmpl       pmetric.ResourceMetrics
	tmplEpoch  uint64
	tmplOK     bool
	tmplSeries []int32
	// series are the group's series by seriesAgg.idx.
	series []*seriesAgg
}

// memberKey identifies a process within its group: proc.KeyOf without the
// host, which is the group's.
type memberKey struct {
	pid   int64
	start pcommon.Timestamp
	name  string
}

// member is one folded process: its last value of every counter series of
// its group, indexed by seriesAgg.slot. The first ones are stored inline,
// next to the member, which saves a cache miss per process.
type member struct {
	g        *group
	key      memberKey
	dead     bool // forgotten by sweep
	epoch    uint64
	lastSeen int64
	slots    []slot
	inline   [inlineSlots]slot
}

// inlineSlots is how many counter series a member keeps inline; hostmetrics
// reports five per process (process.cpu.time by state, process.disk.io by
// direction).
const inlineSlots = 6

// slot is a member's last value of one counter series: an int64, or the bits
// of a float64 for a double series.
type slot struct {
	ts pcommon.Timestamp
	v  uint64
	ok bool
}

type scopeAgg struct {
	name, version string
	epoch         uint64
	metrics       []*metricAgg
	byKey         map[string]*metricAgg
}

// kind is a metric's type, temporality and monotonicity: points merge only
// with points of the same name and kind.
type kind uint8

const (
	kindGauge     kind = 1
	kindSum       kind = 2
	kindMonotonic kind = 4
	kindDelta     kind = 8
	kindCumul     kind = 16
	kindCounter        = kindSum | kindMonotonic | kindCumul
)

func sumKind(s pmetric.Sum) kind {
	k := kindSum
	switch s.AggregationTemporality() {
	case pmetric.AggregationTemporalityCumulative:
		k |= kindCumul
	case pmetric.AggregationTemporalityDelta:
		k |= kindDelta
	}
	if s.IsMonotonic() {
		k |= kindMonotonic
	}
	return k
}

type metricAgg struct {
	name, unit, desc string
	kind             kind
	epoch            uint64
	series           []*seriesAgg
	byAttrs          map[string]*seriesAgg
}

// seriesAgg is one output series of a group. Gauges and sums other than
// cumulative monotonic ones sum the points of the current interval (sum*);
// cumulative monotonic sums keep a running total (acc*) across intervals.
type seriesAgg struct {
	sc      *scopeAgg
	ma      *metricAgg
	attrKey string
	attrs   pcommon.Map
	// str1, k1 and v1 describe a series with one string attribute, the
	// common case, so that a point is matched without encoding its key.
	str1   bool
	k1, v1 string
	idx    int
	slot   int // index in member.slots, counters only
	isInt  bool
	epoch  uint64
	mark   uint64
	ts     pcommon.Timestamp
	start  pcommon.Timestamp
	sumI   int64
	sumF   float64
	accI   int64
	accF   float64
}

type keyValue struct {
	k string
	v pcommon.Value
}

func newRollup(cfg Config, cnt counters) *rollup {
	return &rollup{
		cfg:    cfg,
		cnt:    cnt,
		now:    time.Now,
		groups: make(map[groupKey]*group),
	}
}

// processMetrics folds the process resources of md that do not keep their
// own series: the first one of each group with data becomes the group's
// resource, the others are removed.
func (p *rollup) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now().UnixNano()
	p.sweep(now)
	p.epoch++
	p.stats = batchStats{}
	pos := -1
	rms.RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		pos++
		ri := scan(rm.Resource())
		key, ok := p.groupOf(&ri)
		if !ok {
			return false
		}
		return !p.fold(rm, &ri, key, now, pos)
	})
	for i, g := range p.touched {
		if g.tmplEpoch == p.epoch {
			p.emit(g)
		}
		p.touched[i] = nil
	}
	p.touched = p.touched[:0]
	p.flushStats()
	return md, nil
}

func (p *rollup) flushStats() {
	if p.stats.folded > 0 {
		p.cnt.folded.Add(float64(p.stats.folded))
	}
	if p.stats.unsupported > 0 {
		p.cnt.unsupported.Add(float64(p.stats.unsupported))
	}
	if p.stats.invalid > 0 {
		p.cnt.invalid.Add(float64(p.stats.invalid))
	}
	if p.stats.limit > 0 {
		p.cnt.limit.Add(float64(p.stats.limit))
	}
}

func (p *rollup) shutdown(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.groups)
	p.hint = nil
	return nil
}

// resInfo is what the processor reads from a resource's attributes, in
// one pass.
type resInfo struct {
	host, name    string
	pid           int64
	hasPID        bool
	hasName       bool
	prio          proc.Priority
	keep, hasKeep bool
	keepSeen      bool
}

// scan reads a resource's attributes with the semantics of proc.IsProcess,
// proc.PriorityOf, proc.Host, proc.Str and proc.PID, in one pass instead of
// one lookup each.
func scan(res pcommon.Resource) resInfo {
	var ri resInfo
	var hasHost, hasPrio bool
	// Like pcommon.Map.Get, the first of duplicated keys wins.
	for k, v := range res.Attributes().All() {
		switch k {
		case proc.AttrPID:
			if !ri.hasPID {
				ri.hasPID = true
				ri.pid = usablePID(v)
			}
		case proc.AttrExecutableName:
			if !ri.hasName {
				ri.hasName = true
				ri.name = proc.StrValue(v)
			}
		case proc.AttrHostName:
			if !hasHost {
				hasHost = true
				ri.host = proc.StrValue(v)
			}
		case proc.AttrPriority:
			if !hasPrio {
				hasPrio = true
				if v.Type() == pcommon.ValueTypeStr {
					ri.prio, _ = proc.ParsePriority(v.Str())
				}
			}
		case proc.AttrKeep:
			if !ri.keepSeen {
				ri.keepSeen = true
				ri.hasKeep = v.Type() == pcommon.ValueTypeBool
				ri.keep = ri.hasKeep && v.Bool()
			}
		}
	}
	return ri
}

// usablePID is proc.PIDValue, 0 when the value is not usable.
func usablePID(v pcommon.Value) int64 {
	if n, ok := proc.PIDValue(v); ok {
		return n
	}
	return 0
}

// groupOf returns the group key of a process resource that must be folded;
// ok is false when the resource keeps its own series.
func (p *rollup) groupOf(ri *resInfo) (key string, ok bool) {
	if !ri.hasPID && !ri.hasName {
		return "", false
	}
	pr := ri.prio
	if pr == proc.Critical {
		return "", false
	}
	if pr < proc.Low {
		pr = proc.Low
	}
	fold := pr < p.cfg.KeepPriority
	if ri.hasKeep {
		fold = !ri.keep
	}
	if !fold {
		return "", false
	}
	switch p.cfg.GroupBy {
	case GroupByPriority:
		return pr.String(), true
	case GroupByOther:
		return GroupOther, true
	default:
		if ri.name != "" {
			return ri.name, true
		}
		return GroupUnknown, true
	}
}

// sweep forgets processes and groups not seen for state_ttl. It runs at most
// every quarter of state_ttl, so state lives between 1 and 1.25 state_ttl.
func (p *rollup) sweep(now int64) {
	ttl := int64(p.cfg.StateTTL)
	if now-p.lastSweep < ttl/4 {
		return
	}
	p.lastSweep = now
	for k, g := range p.groups {
		if now-g.lastSeen > ttl {
			g.dead = true
			delete(p.groups, k)
			continue
		}
		for mk, m := range g.members {
			if now-m.lastSeen > ttl {
				m.dead = true
				delete(g.members, mk)
			}
		}
	}
}

// pendingCounter is a counter point of the resource being folded, applied
// once the process's identity (which needs its start time) is known.
type pendingCounter struct {
	idx int32 // seriesAgg.idx
	rec int32 // index in rollup.rec
	iv  int64
	fv  float64
	ts  pcommon.Timestamp
	st  pcommon.Timestamp
}

// fold adds one process resource to its group. It reports whether rm
// stays in the batch as the group's output (see group.tmpl); otherwise the
// caller removes it.
func (p *rollup) fold(rm pmetric.ResourceMetrics, ri *resInfo, key string, now int64, pos int) bool {
	// Batches usually list the same processes in the same order every
	// interval: the member folded at this position last time, when it is
	// still of the same group, saves the map lookups.
	var hm *member
	if pos < len(p.hint) {
		if hm = p.hint[pos]; hm != nil && (hm.dead || hm.g.dead || hm.g.host != ri.host || hm.g.key != key) {
			hm = nil
		}
	}
	var g *group
	if hm != nil {
		g = hm.g
	} else {
		g = p.groups[groupKey{host: ri.host, key: key}]
	}
	if g == nil {
		g = &group{
			host:    strings.Clone(ri.host),
			key:     strings.Clone(key),
			created: p.epoch,
			members: make(map[memberKey]*member),
		}
		p.groups[groupKey{host: g.host, key: g.key}] = g
	}
	if g.epoch != p.epoch {
		g.epoch = p.epoch
		g.nMembers = 0
		g.nTouched = 0
		p.touched = append(p.touched, g)
	}
	g.lastSeen = now
	p.stats.folded++

	// Gauges and sums are folded now; counter points wait in p.pending
	// until the start time, and so the process's identity, is known.
	p.pending = p.pending[:0]
	p.rec = p.rec[:0]
	p.recOK = true
	p.resTouched = 0
	var start pcommon.Timestamp
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		sm := sms.At(i)
		var sc *scopeAgg
		ms := sm.Metrics()
		if ms.Len() == 0 {
			p.recOK = false
		}
		for j := 0; j < ms.Len(); j++ {
			if st := p.foldMetric(g, &sc, sm.Scope(), ms.At(j), j); st != 0 && (start == 0 || st < start) {
				start = st
			}
		}
	}

	// The identity of proc.KeyOf, with the start of the cumulative sums:
	// delta starts move every interval and would give the process a new
	// identity at every scrape.
	mk := memberKey{pid: ri.pid, start: start, name: ri.name}
	var m *member
	if hm != nil && hm.key == mk {
		m = hm
	} else if m = g.members[mk]; m == nil {
		mk.name = strings.Clone(mk.name)
		m = &member{g: g, key: mk}
		m.slots = m.inline[:0]
		g.members[mk] = m
	}
	if pos < len(p.hint) {
		if p.hint[pos] != m {
			p.hint[pos] = m
		}
	} else if pos < maxHints {
		for len(p.hint) < pos {
			p.hint = append(p.hint, nil)
		}
		p.hint = append(p.hint, m)
	}
	m.lastSeen = now
	if m.epoch != p.epoch {
		m.epoch = p.epoch
		g.nMembers++
	}
	for i := range p.pending {
		pc := &p.pending[i]
		s := g.series[pc.idx]
		if !foldCounter(m, s, pc.iv, pc.fv, pc.ts) {
			p.stats.invalid++
			p.rec[pc.rec] = -1
			continue
		}
		p.touch(g, s.sc, s.ma, s, pc.ts, pc.st, true)
	}

	if p.resTouched == 0 || g.tmplEpoch == p.epoch {
		return false
	}
	g.tmpl, g.tmplEpoch = rm, p.epoch
	g.tmplOK = p.recOK
	for _, idx := range p.rec {
		if idx < 0 {
			g.tmplOK = false
			break
		}
	}
	g.tmplSeries, p.rec = p.rec, g.tmplSeries[:0]
	return true
}

// touch records that a point was folded into series s in this interval.
func (p *rollup) touch(g *group, sc *scopeAgg, ma *metricAgg, s *seriesAgg, ts, st pcommon.Timestamp, cumulative bool) {
	if s.epoch != p.epoch {
		s.epoch = p.epoch
		s.sumI, s.sumF, s.ts, s.start = 0, 0, 0, 0
		g.nTouched++
	}
	p.resTouched++
	if ts > s.ts {
		s.ts = ts
	}
	if st != 0 {
		if s.start == 0 || st < s.start {
			s.start = st
		}
		if cumulative && (g.start == 0 || (g.created == p.epoch && st < g.start)) {
			g.start = st
		}
	}
	ma.epoch = p.epoch
	sc.epoch = p.epoch
}

// foldMetric adds the points of one metric of a folded process, queues its
// counter points in p.pending, and returns the earliest non-zero start of
// its points when it is a cumulative sum (the process's start time in
// hostmetrics output). sc is the group's state of the metric's scope,
// resolved on first need.
func (p *rollup) foldMetric(g *group, sc **scopeAgg, scope pcommon.InstrumentationScope, metric pmetric.Metric, hint int) (start pcommon.Timestamp) {
	var dps pmetric.NumberDataPointSlice
	var k kind
	switch metric.Type() {
	case pmetric.MetricTypeGauge:
		dps, k = metric.Gauge().DataPoints(), kindGauge
	case pmetric.MetricTypeSum:
		s := metric.Sum()
		dps, k = s.DataPoints(), sumKind(s)
	case pmetric.MetricTypeHistogram:
		p.stats.unsupported += metric.Histogram().DataPoints().Len()
		p.recOK = false
		return 0
	case pmetric.MetricTypeExponentialHistogram:
		p.stats.unsupported += metric.ExponentialHistogram().DataPoints().Len()
		p.recOK = false
		return 0
	case pmetric.MetricTypeSummary:
		p.stats.unsupported += metric.Summary().DataPoints().Len()
		p.recOK = false
		return 0
	default:
		p.recOK = false
		return 0
	}
	n := dps.Len()
	if n == 0 {
		p.recOK = false
		return 0
	}
	if *sc == nil {
		*sc = p.scopeOf(g, scope)
	}
	var ma *metricAgg
	if *sc != nil {
		ma = p.metricOf(g, *sc, metric, k, hint)
	}
	counter := k == kindCounter
	cumulative := k&kindCumul != 0
	for i := 0; i < n; i++ {
		dp := dps.At(i)
		ts, st := dp.Timestamp(), dp.StartTimestamp()
		if cumulative && st != 0 && (start == 0 || st < start) {
			start = st
		}
		if ma == nil {
			p.stats.limit++
			p.rec = append(p.rec, -1)
			continue
		}
		var iv int64
		var fv float64
		isInt := false
		switch dp.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			iv, isInt = dp.IntValue(), true
		case pmetric.NumberDataPointValueTypeDouble:
			fv = dp.DoubleValue()
		default:
			p.stats.invalid++
			p.rec = append(p.rec, -1)
			continue
		}
		if dp.Flags().NoRecordedValue() {
			p.stats.invalid++
			p.rec = append(p.rec, -1)
			continue
		}
		s := p.seriesOf(g, *sc, ma, dp.Attributes(), i, isInt)
		if s == nil {
			p.stats.limit++
			p.rec = append(p.rec, -1)
			continue
		}
		if s.isInt && !isInt {
			if !(fv >= math.MinInt64 && fv < math.MaxInt64) {
				p.stats.invalid++
				p.rec = append(p.rec, -1)
				continue
			}
			iv = int64(fv)
		} else if !s.isInt && isInt {
			fv = float64(iv)
		}
		p.rec = append(p.rec, int32(s.idx))
		if counter {
			p.pending = append(p.pending, pendingCounter{idx: int32(s.idx), rec: int32(len(p.rec) - 1), iv: iv, fv: fv, ts: ts, st: st})
			continue
		}
		p.touch(g, *sc, ma, s, ts, st, cumulative)
		s.sumI += iv
		s.sumF += fv
	}
	return start
}

// foldCounter adds one point of a cumulative monotonic sum of member m to
// the group's running total and reports whether it was usable. A new member
// adds its full value, a member whose counter grew adds the increase, and a
// member whose counter went down was reset and adds its new value.
func foldCounter(m *member, s *seriesAgg, iv int64, fv float64, ts pcommon.Timestamp) bool {
	for len(m.slots) <= s.slot {
		m.slots = append(m.slots, slot{})
	}
	sl := &m.slots[s.slot]
	if sl.ok && ts < sl.ts {
		return false
	}
	if s.isInt {
		if iv < 0 {
			return false
		}
		switch {
		case !sl.ok:
			s.accI += iv
		case iv >= int64(sl.v):
			s.accI += iv - int64(sl.v)
		default:
			s.accI += iv
		}
		sl.v = uint64(iv)
	} else {
		if !(fv >= 0) || math.IsInf(fv, 1) {
			return false
		}
		last := math.Float64frombits(sl.v)
		switch {
		case !sl.ok:
			s.accF += fv
		case fv >= last:
			s.accF += fv - last
		default:
			s.accF += fv
		}
		sl.v = math.Float64bits(fv)
	}
	sl.ok, sl.ts = true, ts
	return true
}

// scopeOf returns the group's state of an instrumentation scope, or nil
// when the group reached MaxStatePerGroup and the scope is new.
func (p *rollup) scopeOf(g *group, scope pcommon.InstrumentationScope) *scopeAgg {
	name, version := scope.Name(), scope.Version()
	for _, sc := range g.scopes {
		if sc.name == name && sc.version == version {
			return sc
		}
	}
	if g.nState >= MaxStatePerGroup {
		return nil
	}
	g.nState++
	sc := &scopeAgg{
		name:    strings.Clone(name),
		version: strings.Clone(version),
		byKey:   make(map[string]*metricAgg),
	}
	g.scopes = append(g.scopes, sc)
	return sc
}

// metricOf returns the scope's state of a metric (name and kind). hint is the
// metric's position in its input scope, which usually matches the position
// of its state because every process reports the same metrics in the same
// order.
func (p *rollup) metricOf(g *group, sc *scopeAgg, metric pmetric.Metric, k kind, hint int) *metricAgg {
	name := metric.Name()
	if hint < len(sc.metrics) {
		if ma := sc.metrics[hint]; ma.kind == k && ma.name == name {
			return ma
		}
	}
	p.buf = append(append(p.buf[:0], byte(k)), name...)
	if ma, ok := sc.byKey[string(p.buf)]; ok {
		return ma
	}
	if g.nState >= MaxStatePerGroup {
		return nil
	}
	g.nState++
	ma := &metricAgg{
		name:    strings.Clone(name),
		unit:    strings.Clone(metric.Unit()),
		desc:    strings.Clone(metric.Description()),
		kind:    k,
		byAttrs: make(map[string]*seriesAgg),
	}
	sc.byKey[string(p.buf)] = ma
	sc.metrics = append(sc.metrics, ma)
	return ma
}

// seriesOf returns the metric's series of a data point's attributes, or nil
// when the group reached MaxStatePerGroup and the series is new. hint is the
// point's position in its input metric.
func (p *rollup) seriesOf(g *group, sc *scopeAgg, ma *metricAgg, attrs pcommon.Map, hint int, isInt bool) *seriesAgg {
	n := attrs.Len()
	if hint < len(ma.series) {
		s := ma.series[hint]
		switch {
		case n == 0 && s.attrKey == "":
			return s
		case n == 1 && s.str1:
			for k, v := range attrs.All() {
				if v.Type() == pcommon.ValueTypeStr && k == s.k1 && v.Str() == s.v1 {
					return s
				}
			}
		}
	}
	p.buf = p.appendAttrKey(p.buf[:0], attrs)
	if hint < len(ma.series) {
		if s := ma.series[hint]; s.attrKey == string(p.buf) {
			return s
		}
	}
	if s, ok := ma.byAttrs[string(p.buf)]; ok {
		return s
	}
	if g.nState >= MaxStatePerGroup {
		return nil
	}
	g.nState++
	s := &seriesAgg{
		sc:      sc,
		ma:      ma,
		attrKey: string(p.buf),
		attrs:   pcommon.NewMap(),
		idx:     g.nSeries,
		slot:    -1,
		isInt:   isInt,
	}
	attrs.CopyTo(s.attrs)
	if n == 1 {
		for k, v := range attrs.All() {
			if v.Type() == pcommon.ValueTypeStr {
				s.str1, s.k1, s.v1 = true, strings.Clone(k), strings.Clone(v.Str())
			}
		}
	}
	g.nSeries++
	g.series = append(g.series, s)
	if ma.kind == kindCounter {
		s.slot = g.nCounters
		g.nCounters++
	}
	ma.byAttrs[s.attrKey] = s
	ma.series = append(ma.series, s)
	return s
}

// appendAttrKey appends an exact, order-independent encoding of attrs to b.
func (p *rollup) appendAttrKey(b []byte, attrs pcommon.Map) []byte {
	switch attrs.Len() {
	case 0:
		return b
	case 1:
		for k, v := range attrs.All() {
			b = appendKeyValue(b, k, v)
		}
		return b
	}
	p.kvs = p.kvs[:0]
	for k, v := range attrs.All() {
		p.kvs = append(p.kvs, keyValue{k: k, v: v})
	}
	for i := 1; i < len(p.kvs); i++ {
		for j := i; j > 0 && p.kvs[j].k < p.kvs[j-1].k; j-- {
			p.kvs[j], p.kvs[j-1] = p.kvs[j-1], p.kvs[j]
		}
	}
	for _, e := range p.kvs {
		b = appendKeyValue(b, e.k, e.v)
	}
	clear(p.kvs)
	return b
}

func appendKeyValue(b []byte, k string, v pcommon.Value) []byte {
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	t := v.Type()
	b = append(b, byte(t))
	switch t {
	case pcommon.ValueTypeStr:
		s := v.Str()
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	case pcommon.ValueTypeInt:
		b = binary.LittleEndian.AppendUint64(b, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	default:
		s := v.AsString()
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// emit rewrites the group's template resource into the group's output: the
// group attributes, and the series updated in this interval.
func (p *rollup) emit(g *group) {
	rm := g.tmpl
	g.tmpl = pmetric.ResourceMetrics{}
	res := rm.Resource()
	attrs := res.Attributes()
	attrs.RemoveIf(removeAllAttrs)
	res.SetDroppedAttributesCount(0)
	rm.SetSchemaUrl("")
	attrs.EnsureCapacity(4)
	if g.host != "" {
		attrs.PutStr(proc.AttrHostName, g.host)
	}
	attrs.PutStr(proc.AttrGroup, g.key)
	attrs.PutStr(proc.AttrGroupBy, string(p.cfg.GroupBy))
	attrs.PutInt(proc.AttrGroupMembers, int64(g.nMembers))
	if p.templateFits(g) {
		p.fill(rm, g)
		p.reused++
	} else {
		rm.ScopeMetrics().RemoveIf(removeAllScopes)
		p.build(rm, g)
		p.rebuilt++
	}
	g.tmplSeries = g.tmplSeries[:0]
}

func removeAllAttrs(string, pcommon.Value) bool { return true }
func removeAllScopes(pmetric.ScopeMetrics) bool { return true }
func removeAllExemplars(pmetric.Exemplar) bool  { return true }

// templateFits reports whether the points of the template are exactly the
// series updated in this interval, each once.
func (p *rollup) templateFits(g *group) bool {
	if !g.tmplOK || len(g.tmplSeries) != g.nTouched {
		return false
	}
	for _, idx := range g.tmplSeries {
		s := g.series[idx]
		if s.mark == p.epoch {
			return false
		}
		s.mark = p.epoch
	}
	return true
}

// fill overwrites the points of the template with the group's values.
func (p *rollup) fill(rm pmetric.ResourceMetrics, g *group) {
	i := 0
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		ms := sms.At(j).Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			var dps pmetric.NumberDataPointSlice
			var kd kind
			if m.Type() == pmetric.MetricTypeGauge {
				dps, kd = m.Gauge().DataPoints(), kindGauge
			} else {
				dps, kd = m.Sum().DataPoints(), sumKind(m.Sum())
			}
			if m.Metadata().Len() > 0 {
				m.Metadata().RemoveIf(removeAllAttrs)
			}
			for d := 0; d < dps.Len(); d++ {
				dp := dps.At(d)
				setPoint(dp, g, g.series[g.tmplSeries[i]], kd)
				i++
				dp.SetFlags(0)
				if dp.Exemplars().Len() > 0 {
					dp.Exemplars().RemoveIf(removeAllExemplars)
				}
			}
		}
	}
}

// build writes the series updated in this interval into rm, which has no
// scopes.
func (p *rollup) build(rm pmetric.ResourceMetrics, g *group) {
	for _, sc := range g.scopes {
		if sc.epoch != p.epoch {
			continue
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(sc.name)
		sm.Scope().SetVersion(sc.version)
		for _, ma := range sc.metrics {
			if ma.epoch != p.epoch {
				continue
			}
			p.buildMetric(sm.Metrics().AppendEmpty(), g, ma)
		}
	}
}

func (p *rollup) buildMetric(m pmetric.Metric, g *group, ma *metricAgg) {
	m.SetName(ma.name)
	m.SetUnit(ma.unit)
	m.SetDescription(ma.desc)
	var dps pmetric.NumberDataPointSlice
	if ma.kind == kindGauge {
		dps = m.SetEmptyGauge().DataPoints()
	} else {
		s := m.SetEmptySum()
		s.SetIsMonotonic(ma.kind&kindMonotonic != 0)
		switch {
		case ma.kind&kindCumul != 0:
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		case ma.kind&kindDelta != 0:
			s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		}
		dps = s.DataPoints()
	}
	for _, s := range ma.series {
		if s.epoch != p.epoch {
			continue
		}
		dp := dps.AppendEmpty()
		s.attrs.CopyTo(dp.Attributes())
		setPoint(dp, g, s, ma.kind)
	}
}

// setPoint writes the group's value of series s (of metric kind k) into dp.
func setPoint(dp pmetric.NumberDataPoint, g *group, s *seriesAgg, k kind) {
	if k&kindCumul != 0 {
		dp.SetStartTimestamp(g.start)
	} else {
		dp.SetStartTimestamp(s.start)
	}
	dp.SetTimestamp(s.ts)
	counter := k == kindCounter
	switch {
	case counter && s.isInt:
		dp.SetIntValue(s.accI)
	case counter:
		dp.SetDoubleValue(s.accF)
	case s.isInt:
		dp.SetIntValue(s.sumI)
	default:
		dp.SetDoubleValue(s.sumF)
	}
}
