package meterprocessor

import (
	"hash/maphash"
	"math"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix/platform/collector/internal/proc"
)

// Series identity is a 64-bit hash of metric name, resource attributes and
// data point attributes. Attribute maps are hashed order-independently (the
// sum of one mixed hash per key/value pair), so no sorting and no allocation
// is needed: resource attributes are hashed once per resource, the name once
// per metric, and each data point only adds the hash of its own attributes.

var seed = maphash.MakeSeed()

const (
	prime1 = 0x9e3779b97f4a7c15
	prime2 = 0xc2b2ae3d27d4eb4f
	prime3 = 0x165667b19e3779f9

	tagEmpty  = 0x5a1b3c4d5e6f7081
	tagInt    = 0x2545f4914f6cdd1d
	tagDouble = 0x94d049bb133111eb
	tagTrue   = 0xbf58476d1ce4e5b9
	tagFalse  = 0x369dea0f31a53f85
	tagSlice  = 0xdb4f0b9175ae2165
	tagMap    = 0x4be98134a5976fd3
	tagBytes  = 0x7fb5d329728ea185

	// maxDepth bounds the recursion into nested map and slice values.
	maxDepth = 16
)

// mix is the 64-bit finalizer of MurmurHash3: every input bit affects every
// output bit.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// pair combines the hashes of an attribute key and value into the term a
// map's hash sums up; it must not be linear, or sums of different maps would
// meet too easily.
func pair(k, v uint64) uint64 {
	h := k*prime1 ^ v
	h ^= h >> 32
	h *= prime2
	return h ^ h>>29
}

func hashString(s string) uint64 { return maphash.String(seed, s) }

const stringCacheSize = 256

// hasher hashes the attributes and names of one call. It remembers the hash
// of the strings it met by their address: the hostmetrics scrapers and most
// processors set attribute keys, metric names and enumerated values from
// shared string constants, so these are hashed once per call instead of once
// per resource or data point. Strings are immutable and the call's metrics
// keep them alive, so an address and length that match name the same
// content. A hasher is not safe for concurrent use.
type hasher struct {
	strings [stringCacheSize]stringHash
}

type stringHash struct {
	p *byte
	n int
	h uint64
}

func (hs *hasher) reset() { clear(hs.strings[:]) }

// str returns hashString(s).
func (hs *hasher) str(s string) uint64 {
	if len(s) == 0 {
		return hashString(s)
	}
	p := unsafe.StringData(s)
	e := &hs.strings[(uintptr(unsafe.Pointer(p))>>3^uintptr(len(s)))%stringCacheSize]
	if e.p == p && e.n == len(s) {
		return e.h
	}
	h := hashString(s)
	*e = stringHash{p: p, n: len(s), h: h}
	return h
}

// attrs hashes a map independently of the order of its entries. An empty
// map hashes to 0.
func (hs *hasher) attrs(m pcommon.Map) uint64 { return hs.mapHash(m, 0) }

func (hs *hasher) mapHash(m pcommon.Map, depth int) uint64 {
	var sum uint64
	for k, v := range m.All() {
		sum += pair(hs.str(k), hs.value(v, depth))
	}
	return sum
}

func (hs *hasher) value(v pcommon.Value, depth int) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return hs.str(v.Str())
	case pcommon.ValueTypeInt:
		return mix(uint64(v.Int())*prime2 ^ tagInt)
	case pcommon.ValueTypeDouble:
		return mix(math.Float64bits(v.Double())*prime2 ^ tagDouble)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return tagTrue
		}
		return tagFalse
	case pcommon.ValueTypeBytes:
		b := v.Bytes()
		var h maphash.Hash
		h.SetSeed(seed)
		for i := 0; i < b.Len(); i++ {
			_ = h.WriteByte(b.At(i))
		}
		return mix(h.Sum64() ^ tagBytes)
	case pcommon.ValueTypeSlice:
		if depth >= maxDepth {
			return tagSlice
		}
		s := v.Slice()
		acc := uint64(tagSlice)
		for i := 0; i < s.Len(); i++ {
			acc = mix(acc*prime3 ^ hs.value(s.At(i), depth+1))
		}
		return acc
	case pcommon.ValueTypeMap:
		if depth >= maxDepth {
			return tagMap
		}
		return mix(hs.mapHash(v.Map(), depth+1) ^ tagMap)
	default:
		return tagEmpty
	}
}

// resourceInfo is what one pass over a resource's attributes yields: the
// order-independent hash of all of them, and the host and executable name
// the meter needs (rendered as strings like proc.Str does).
type resourceInfo struct {
	hash     uint64
	host     string
	name     string
	nameHash uint64 // hashString(name)
	hasHost  bool
	hasName  bool
}

// resource hashes a resource's attributes and picks out host.name and
// process.executable.name on the way, so that neither needs another scan. As
// with pcommon.Map.Get, the first of duplicate keys counts.
func (hs *hasher) resource(attrs pcommon.Map) resourceInfo {
	var ri resourceInfo
	for k, v := range attrs.All() {
		hv := hs.value(v, 0)
		ri.hash += pair(hs.str(k), hv)
		switch k {
		case proc.AttrHostName:
			if !ri.hasHost {
				ri.host, ri.hasHost = asString(v), true
			}
		case proc.AttrExecutableName:
			if !ri.hasName {
				ri.name, ri.hasName = asString(v), true
				ri.nameHash = hv
				if v.Type() != pcommon.ValueTypeStr {
					ri.nameHash = hs.str(ri.name)
				}
			}
		}
	}
	return ri
}

// asString renders an attribute value as proc.Str does.
func asString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// metricBase combines the hash of a resource's attributes with the hash of a
// metric name.
func metricBase(resource, name uint64) uint64 {
	return mix(resource*prime1 ^ name)
}

// seriesHash combines a metric base with the hash of a data point's
// attributes. Both are already well mixed, and multiplying by an odd
// constant is a bijection, so distinct attribute hashes of one metric never
// meet and the low bits stay uniform for the series table.
func seriesHash(base, attrs uint64) uint64 {
	return base ^ attrs*prime2
}

// appendSeries appends the series hash of every data point of rm.
func (hs *hasher) appendSeries(dst []uint64, rm pmetric.ResourceMetrics, resource uint64) []uint64 {
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		ms := sms.At(j).Metrics()
		for k := 0; k < ms.Len(); k++ {
			mt := ms.At(k)
			base := metricBase(resource, hs.str(mt.Name()))
			switch mt.Type() {
			case pmetric.MetricTypeGauge:
				dst = hs.appendNumber(dst, base, mt.Gauge().DataPoints())
			case pmetric.MetricTypeSum:
				dst = hs.appendNumber(dst, base, mt.Sum().DataPoints())
			case pmetric.MetricTypeHistogram:
				dps := mt.Histogram().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					dst = append(dst, seriesHash(base, hs.attrs(dps.At(l).Attributes())))
				}
			case pmetric.MetricTypeExponentialHistogram:
				dps := mt.ExponentialHistogram().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					dst = append(dst, seriesHash(base, hs.attrs(dps.At(l).Attributes())))
				}
			case pmetric.MetricTypeSummary:
				dps := mt.Summary().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					dst = append(dst, seriesHash(base, hs.attrs(dps.At(l).Attributes())))
				}
			}
		}
	}
	return dst
}

func (hs *hasher) appendNumber(dst []uint64, base uint64, dps pmetric.NumberDataPointSlice) []uint64 {
	for l := 0; l < dps.Len(); l++ {
		dst = append(dst, seriesHash(base, hs.attrs(dps.At(l).Attributes())))
	}
	return dst
}
