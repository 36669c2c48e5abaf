package metrics

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// errProtobuf marks a remote-write body that is not a valid protobuf
// prometheus.WriteRequest.
var errProtobuf = errors.New("invalid protobuf WriteRequest")

// errTooManySamples marks a remote-write request over the samples limit.
var errTooManySamples = errors.New("too many samples in one request")

// wireSample is one float sample of a remote-write series.
type wireSample struct {
	t int64
	v float64
}

// wireSeries is one prometheus.TimeSeries of a remote-write request,
// decoded without copying: label names and values point into the request's
// bytes and are valid only while the request is being handled.
type wireSeries struct {
	labels  []labels.Label
	samples []wireSample
	// tooManyLabels is set when the series had more labels than the
	// decoder keeps; labels then holds only the first ones.
	tooManyLabels bool
	histograms    int // native histogram samples, not decoded
	exemplars     int // exemplars, not decoded
}

// wireDecoder decodes a prometheus.WriteRequest (remote write 1.0) one
// series at a time into reused buffers, so that decoding allocates nothing
// once the buffers have grown. It keeps at most maxLabels labels per series
// and fails with errTooManySamples once more than maxSamples samples
// (floats and histograms) have been seen, so memory stays bounded by the
// limits whatever the input.
type wireDecoder struct {
	maxLabels  int
	maxSamples int
	samples    int // samples seen so far
	series     wireSeries
}

// decode calls fn with each series of the WriteRequest in b, in order. It
// stops at the first error of fn or of the encoding. Metadata and unknown
// fields are skipped.
func (d *wireDecoder) decode(b []byte, fn func(*wireSeries) error) error {
	d.samples = 0
	for index := 0; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errProtobuf, protowire.ParseError(n))
		}
		b = b[n:]
		if num != 1 {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fmt.Errorf("%w: field %d: %w", errProtobuf, num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("%w: timeseries %d: wrong wire type %d", errProtobuf, index, typ)
		}
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("%w: timeseries %d: %w", errProtobuf, index, protowire.ParseError(n))
		}
		b = b[n:]
		if err := d.decodeSeries(msg); err != nil {
			if errors.Is(err, errTooManySamples) {
				return err
			}
			return fmt.Errorf("%w: timeseries %d: %w", errProtobuf, index, err)
		}
		if err := fn(&d.series); err != nil {
			return err
		}
		index++
	}
	return nil
}

func (d *wireDecoder) decodeSeries(b []byte) error {
	s := &d.series
	s.labels = s.labels[:0]
	s.samples = s.samples[:0]
	s.tooManyLabels = false
	s.histograms = 0
	s.exemplars = 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if num < 1 || num > 4 {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("field %d: wrong wire type %d", num, typ)
		}
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case 1:
			l, err := decodeLabel(msg)
			if err != nil {
				return fmt.Errorf("label %d: %w", len(s.labels), err)
			}
			if len(s.labels) >= d.maxLabels {
				s.tooManyLabels = true
				continue
			}
			s.labels = append(s.labels, l)
		case 2:
			if d.samples++; d.samples > d.maxSamples {
				return errTooManySamples
			}
			smp, err := decodeSample(msg)
			if err != nil {
				return fmt.Errorf("sample %d: %w", len(s.samples), err)
			}
			s.samples = append(s.samples, smp)
		case 3:
			s.exemplars++
		case 4:
			if d.samples++; d.samples > d.maxSamples {
				return errTooManySamples
			}
			s.histograms++
		}
	}
	return nil
}

func decodeLabel(b []byte) (labels.Label, error) {
	var l labels.Label
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return l, protowire.ParseError(n)
		}
		b = b[n:]
		if num != 1 && num != 2 {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return l, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		if typ != protowire.BytesType {
			return l, fmt.Errorf("field %d: wrong wire type %d", num, typ)
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return l, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 {
			l.Name = yoloString(v)
		} else {
			l.Value = yoloString(v)
		}
	}
	return l, nil
}

func decodeSample(b []byte) (wireSample, error) {
	var s wireSample
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.v = math.Float64frombits(v)
			b = b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.t = int64(v)
			b = b[n:]
		case num == 1 || num == 2:
			return s, fmt.Errorf("field %d: wrong wire type %d", num, typ)
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return s, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return s, nil
}

// yoloString returns b as a string without copying. The string is valid as
// long as b is not modified.
func yoloString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
