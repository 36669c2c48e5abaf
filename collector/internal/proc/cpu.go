package proc

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Metric names of the hostmetrics process scraper that the processors read.
const (
	MetricCPUTime     = "process.cpu.time"
	MetricMemoryUsage = "process.memory.usage"
)

// CPUSeconds returns the total CPU time (all states summed) reported by the
// process.cpu.time metric of one resource's metrics, the timestamp of the
// points, their start timestamp, and whether the metric was present.
func CPUSeconds(rm pmetric.ResourceMetrics) (total float64, ts, start pcommon.Timestamp, ok bool) {
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if m.Name() != MetricCPUTime || m.Type() != pmetric.MetricTypeSum {
				continue
			}
			dps := m.Sum().DataPoints()
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				total += NumberValue(dp)
				if dp.Timestamp() > ts {
					ts = dp.Timestamp()
				}
				if start == 0 || (dp.StartTimestamp() != 0 && dp.StartTimestamp() < start) {
					start = dp.StartTimestamp()
				}
				ok = true
			}
		}
	}
	return total, ts, start, ok
}

// MemoryBytes returns the resident memory (process.memory.usage) of one
// resource's metrics and whether it was present.
func MemoryBytes(rm pmetric.ResourceMetrics) (float64, bool) {
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if m.Name() != MetricMemoryUsage {
				continue
			}
			var dps pmetric.NumberDataPointSlice
			switch m.Type() {
			case pmetric.MetricTypeSum:
				dps = m.Sum().DataPoints()
			case pmetric.MetricTypeGauge:
				dps = m.Gauge().DataPoints()
			default:
				continue
			}
			if dps.Len() > 0 {
				return NumberValue(dps.At(0)), true
			}
		}
	}
	return 0, false
}

// StartTime returns the earliest non-zero StartTimestamp of any cumulative sum
// point of a resource, which hostmetrics sets to the process's creation time.
func StartTime(rm pmetric.ResourceMetrics) pcommon.Timestamp {
	var start pcommon.Timestamp
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if m.Type() != pmetric.MetricTypeSum {
				continue
			}
			dps := m.Sum().DataPoints()
			for k := 0; k < dps.Len(); k++ {
				if s := dps.At(k).StartTimestamp(); s != 0 && (start == 0 || s < start) {
					start = s
				}
			}
		}
	}
	return start
}

// NumberValue returns a number data point's value as a float64, whatever its
// type; an empty point is 0.
func NumberValue(dp pmetric.NumberDataPoint) float64 {
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeInt:
		return float64(dp.IntValue())
	case pmetric.NumberDataPointValueTypeDouble:
		return dp.DoubleValue()
	default:
		return 0
	}
}
