package metrics

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
)

// WritePath is where the server mounts the remote-write [WriteHandler].
const WritePath = "/prometheus/api/v1/write"

// Defaults of [WriteConfig].
const (
	DefaultMaxBodyBytes         = 10 << 20 // snappy-compressed
	DefaultMaxDecodedBytes      = 32 << 20
	DefaultMaxSamplesPerRequest = 200_000
	DefaultMaxLabelsPerSeries   = 128
	DefaultMaxAhead             = 10 * time.Minute
)

// pooledBufferMax is the largest buffer kept for reuse between requests;
// larger ones, from rare large requests, are left to the garbage collector.
const pooledBufferMax = 4 << 20

// WriteConfig bounds the remote-write requests a [WriteHandler] accepts. The
// zero value of each field means its default.
type WriteConfig struct {
	// MaxBodyBytes bounds the compressed body; a larger one is answered
	// 413. Zero means [DefaultMaxBodyBytes] (10 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDecodedBytes bounds the body once decompressed, checked before
	// decompressing; a larger one is answered 413. Zero means
	// [DefaultMaxDecodedBytes] (32 MiB, as Prometheus).
	MaxDecodedBytes int64 `yaml:"max_decoded_bytes"`
	// MaxSamplesPerRequest bounds the samples of one request; a request
	// with more is answered 413 and nothing of it is stored. Zero means
	// [DefaultMaxSamplesPerRequest] (200,000).
	MaxSamplesPerRequest int `yaml:"max_samples_per_request"`
	// MaxLabelsPerSeries bounds the labels of one series; the samples of a
	// series with more are rejected as invalid. Zero means
	// [DefaultMaxLabelsPerSeries] (128).
	MaxLabelsPerSeries int `yaml:"max_labels_per_series"`
	// MaxAhead is how far ahead of the server's clock a sample may be;
	// later ones are rejected, as Prometheus does, so that one wrong clock
	// cannot block a series. Zero means [DefaultMaxAhead] (10 minutes).
	MaxAhead time.Duration `yaml:"max_ahead"`
}

// Validate reports the first invalid field, naming its key.
func (c WriteConfig) Validate() error {
	switch {
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("max_body_bytes: must not be negative, got %d", c.MaxBodyBytes)
	case c.MaxDecodedBytes < 0:
		return fmt.Errorf("max_decoded_bytes: must not be negative, got %d", c.MaxDecodedBytes)
	case c.MaxSamplesPerRequest < 0:
		return fmt.Errorf("max_samples_per_request: must not be negative, got %d", c.MaxSamplesPerRequest)
	case c.MaxLabelsPerSeries < 0:
		return fmt.Errorf("max_labels_per_series: must not be negative, got %d", c.MaxLabelsPerSeries)
	case c.MaxAhead < 0:
		return fmt.Errorf("max_ahead: must not be negative, got %s", c.MaxAhead)
	}
	return nil
}

func (c WriteConfig) withDefaults() WriteConfig {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxDecodedBytes == 0 {
		c.MaxDecodedBytes = DefaultMaxDecodedBytes
	}
	if c.MaxSamplesPerRequest == 0 {
		c.MaxSamplesPerRequest = DefaultMaxSamplesPerRequest
	}
	if c.MaxLabelsPerSeries == 0 {
		c.MaxLabelsPerSeries = DefaultMaxLabelsPerSeries
	}
	if c.MaxAhead == 0 {
		c.MaxAhead = DefaultMaxAhead
	}
	return c
}

// WriteSettings are the injected dependencies of a [WriteHandler].
type WriteSettings struct {
	// Logger receives one line per refused request or rejected sample
	// batch; nil discards them.
	Logger *slog.Logger
	// Registerer receives the handler's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// WriteHandler receives Prometheus remote write 1.0 (snappy-compressed
// protobuf prometheus.WriteRequest) into a [Store].
//
// The caller is authenticated with the [Authenticate] function; every
// stored series gets the label tenant=<caller's tenant>, replacing any
// tenant label the request carries, so a writer cannot write into another
// tenant.
//
// Answers:
//   - 204: every sample was stored (a sample identical to a stored one
//     counts as stored).
//   - 400 after storing what could be stored: some samples were rejected
//     (invalid series labels, out of order, duplicate timestamp with another
//     value, too old, too far ahead, native histograms). The body says how
//     many, why, and the first one. This follows Prometheus's partial-write
//     rule of remote write 2.0 rather than its 1.0 receiver, which rolls the
//     whole request back on the first out-of-order sample: one stale series
//     must not cost an agent its whole batch, and a 4xx still tells the
//     sender not to retry.
//   - 400, nothing stored: the body is not snappy or not a valid protobuf
//     WriteRequest.
//   - 413, nothing stored: the compressed body, its decoded size or its
//     number of samples is over the limits of [WriteConfig].
//   - 415: a Content-Encoding other than snappy, or a Content-Type other
//     than remote write 1.0 protobuf.
//   - 401/403 from Authenticate; 500 when storage fails (nothing stored);
//     503 once the store is closed.
//
// All the samples of one request are appended in one transaction: it is
// committed, or rolled back when the request is refused as a whole.
//
// Metrics: phoenix_ingest_requests_total{code},
// phoenix_ingest_requests_refused_total{reason},
// phoenix_ingest_samples_received_total,
// phoenix_ingest_samples_appended_total,
// phoenix_ingest_samples_rejected_total{reason} (reasons invalid_labels,
// out_of_order, duplicate, too_old, too_new, histogram, and
// request_refused for the samples of a request refused as a whole),
// phoenix_ingest_exemplars_dropped_total.
//
// A WriteHandler is safe for concurrent use.
type WriteHandler struct {
	st   *Store
	auth Authenticate
	cfg  WriteConfig
	log  *slog.Logger
	m    *ingestMetrics
	pool sync.Pool // of *ingestBuffers
}

var _ http.Handler = (*WriteHandler)(nil)

type ingestBuffers struct {
	body    []byte
	decoded []byte
	scratch *appendScratch
}

// NewWriteHandler returns a remote-write handler appending to st. It fails
// on an invalid cfg or when the registerer already holds its metrics.
func NewWriteHandler(st *Store, auth Authenticate, cfg WriteConfig, set WriteSettings) (*WriteHandler, error) {
	if st == nil || auth == nil {
		return nil, errors.New("new write handler: store and authenticate function are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new write handler: %w", err)
	}
	m, err := newIngestMetrics(set.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new write handler: %w", err)
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &WriteHandler{st: st, auth: auth, cfg: cfg.withDefaults(), log: log, m: m}
	h.pool.New = func() any { return &ingestBuffers{scratch: newAppendScratch()} }
	return h, nil
}

// Refusal reasons of a whole request, values of the reason label of
// phoenix_ingest_requests_refused_total.
const (
	refusedMethod          = "method"
	refusedUnauthenticated = "unauthenticated"
	refusedMediaType       = "media_type"
	refusedBodyTooLarge    = "body_too_large"
	refusedReadBody        = "read_body"
	refusedSnappy          = "snappy"
	refusedDecodedTooLarge = "decoded_too_large"
	refusedProtobuf        = "protobuf"
	refusedTooManySamples  = "too_many_samples"
	refusedStorage         = "storage"
	refusedClosed          = "closed"
)

var refusedReasons = []string{
	refusedMethod, refusedUnauthenticated, refusedMediaType, refusedBodyTooLarge, refusedReadBody,
	refusedSnappy, refusedDecodedTooLarge, refusedProtobuf, refusedTooManySamples, refusedStorage, refusedClosed,
}

// ServeHTTP handles one remote-write request; see [WriteHandler].
func (h *WriteHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, refusedMethod, "remote write takes POST")
		return
	}
	tenant, status, err := authenticate(h.auth, r)
	if err != nil {
		h.refuse(w, r, status, refusedUnauthenticated, err.Error())
		return
	}
	if msg := checkWriteHeaders(r.Header); msg != "" {
		h.refuse(w, r, http.StatusUnsupportedMediaType, refusedMediaType, msg)
		return
	}

	buf := h.pool.Get().(*ingestBuffers)
	defer h.release(buf)

	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, refusedBodyTooLarge,
			fmt.Sprintf("body of %d bytes is over the limit of %d bytes", r.ContentLength, h.cfg.MaxBodyBytes))
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes), buf.body[:0], r.ContentLength)
	buf.body = body
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, refusedBodyTooLarge,
				fmt.Sprintf("body is over the limit of %d bytes", h.cfg.MaxBodyBytes))
			return
		}
		h.refuse(w, r, http.StatusBadRequest, refusedReadBody, "read body: "+err.Error())
		return
	}

	n, err := snappy.DecodedLen(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, refusedSnappy, "body is not snappy-compressed: "+err.Error())
		return
	}
	if int64(n) > h.cfg.MaxDecodedBytes {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, refusedDecodedTooLarge,
			fmt.Sprintf("decoded body of %d bytes is over the limit of %d bytes", n, h.cfg.MaxDecodedBytes))
		return
	}
	decoded, err := snappy.Decode(buf.decoded[:cap(buf.decoded)], body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, refusedSnappy, "body is not snappy-compressed: "+err.Error())
		return
	}
	if cap(decoded) > cap(buf.decoded) {
		buf.decoded = decoded[:0]
	}

	lim := appendLimits{
		maxSamples: h.cfg.MaxSamplesPerRequest,
		maxLabels:  h.cfg.MaxLabelsPerSeries,
		maxAhead:   h.cfg.MaxAhead,
	}
	st, err := h.st.appendWriteRequest(r.Context(), tenant, decoded, lim, buf.scratch)
	h.m.received.Add(float64(st.received))
	h.m.exemplars.Add(float64(st.exemplars))
	if err != nil {
		h.m.rejectAll(st)
		switch {
		case errors.Is(err, errProtobuf):
			h.refuse(w, r, http.StatusBadRequest, refusedProtobuf, err.Error())
		case errors.Is(err, errTooManySamples):
			h.refuse(w, r, http.StatusRequestEntityTooLarge, refusedTooManySamples,
				fmt.Sprintf("request has more than %d samples", h.cfg.MaxSamplesPerRequest))
		case errors.Is(err, ErrClosed):
			h.refuse(w, r, http.StatusServiceUnavailable, refusedClosed, "the metrics store is shutting down")
		default:
			h.log.Error("remote write: storage failure", "tenant", tenant, "err", err)
			h.refuse(w, r, http.StatusInternalServerError, refusedStorage, "storage failure; nothing of the request was stored")
		}
		return
	}

	h.m.appended.Add(float64(st.appended))
	for reason, n := range st.rejected {
		if n > 0 {
			h.m.rejected[reason].Add(float64(n))
		}
	}
	w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(st.appended))
	if rejected := st.rejectedTotal(); rejected > 0 {
		msg := rejectionMessage(st)
		h.log.Warn("remote write: samples rejected", "tenant", tenant, "detail", msg)
		h.m.requests.WithLabelValues("400").Inc()
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	h.m.requests.WithLabelValues("204").Inc()
	w.WriteHeader(http.StatusNoContent)
}

func (h *WriteHandler) release(buf *ingestBuffers) {
	if cap(buf.body) > pooledBufferMax {
		buf.body = nil
	}
	if cap(buf.decoded) > pooledBufferMax {
		buf.decoded = nil
	}
	h.pool.Put(buf)
}

func (h *WriteHandler) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	h.m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	h.m.refused.WithLabelValues(reason).Inc()
	if status < http.StatusInternalServerError {
		h.log.Debug("remote write: request refused", "reason", reason, "status", status, "remote", r.RemoteAddr, "detail", msg)
	}
	http.Error(w, msg, status)
}

// rejectionMessage tells the sender how many samples were stored and why
// the others were not.
func rejectionMessage(st appendStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d samples rejected (", st.rejectedTotal(), st.received)
	first := true
	for reason, n := range st.rejected {
		if n == 0 {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s: %d", reasonNames[reason], n)
	}
	fmt.Fprintf(&b, "), %d stored; first rejected: %s", st.appended, st.detail)
	return b.String()
}

// checkWriteHeaders returns why the request's encoding is not accepted, or
// "". A missing Content-Encoding or Content-Type is taken as remote write
// 1.0, as Prometheus does.
func checkWriteHeaders(hd http.Header) string {
	if enc := hd.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "snappy") {
		return fmt.Sprintf("content encoding %q is not accepted; only snappy is", enc)
	}
	ct := hd.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-protobuf" {
		return fmt.Sprintf("content type %q is not accepted; only application/x-protobuf is", ct)
	}
	if p := params["proto"]; p != "" && p != "prometheus.WriteRequest" {
		return fmt.Sprintf("protobuf message %q is not accepted; only remote write 1.0 (prometheus.WriteRequest) is", p)
	}
	return ""
}

// readBody reads r to its end into buf, growing it to the announced size
// first when known.
func readBody(r io.Reader, buf []byte, size int64) ([]byte, error) {
	if size > 0 && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return buf, err
		}
	}
}

// authenticate runs auth and returns the tenant, or the status to answer
// and the error to show.
func authenticate(auth Authenticate, r *http.Request) (string, int, error) {
	tenant, err := auth(r)
	if err != nil {
		status := http.StatusUnauthorized
		var hs interface{ HTTPStatus() int }
		if errors.As(err, &hs) && hs.HTTPStatus() >= 400 {
			status = hs.HTTPStatus()
		}
		if status >= http.StatusInternalServerError {
			return "", status, errors.New("authentication is unavailable")
		}
		return "", status, err
	}
	if tenant == "" {
		return "", http.StatusUnauthorized, errors.New("the credential names no tenant")
	}
	return tenant, 0, nil
}

type ingestMetrics struct {
	requests *prometheus.CounterVec
	refused  *prometheus.CounterVec
	received prometheus.Counter
	appended prometheus.Counter
	rejected [numReasons]prometheus.Counter
	// refusedSamples counts, under reason "request_refused", the samples
	// decoded from requests then refused as a whole.
	refusedSamples prometheus.Counter
	exemplars      prometheus.Counter
}

func newIngestMetrics(reg prometheus.Registerer) (*ingestMetrics, error) {
	m := &ingestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phoenix_ingest_requests_total",
			Help: "Remote-write requests received, by HTTP status code of the answer.",
		}, []string{"code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phoenix_ingest_requests_refused_total",
			Help: "Remote-write requests refused as a whole (nothing stored), by reason.",
		}, []string{"reason"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_ingest_samples_received_total",
			Help: "Samples decoded from remote-write requests.",
		}),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_ingest_samples_appended_total",
			Help: "Samples stored from remote-write requests.",
		}),
		exemplars: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phoenix_ingest_exemplars_dropped_total",
			Help: "Exemplars received with remote-write requests and not stored.",
		}),
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phoenix_ingest_samples_rejected_total",
		Help: "Samples of remote-write requests not stored, by reason.",
	}, []string{"reason"})
	for r := range numReasons {
		m.rejected[r] = rejected.WithLabelValues(reasonNames[r])
	}
	for _, reason := range refusedReasons {
		m.refused.WithLabelValues(reason)
	}
	m.refusedSamples = rejected.WithLabelValues("request_refused")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.refused, m.received, m.appended, rejected, m.exemplars} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register ingest metrics: %w", err)
			}
		}
	}
	return m, nil
}

// rejectAll counts the samples of a request refused as a whole.
func (m *ingestMetrics) rejectAll(st appendStats) {
	m.refusedSamples.Add(float64(st.received))
}
