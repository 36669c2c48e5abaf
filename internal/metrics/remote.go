package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/phoenix/platform/internal/version"
)

// Defaults of [RemoteConfig].
const (
	DefaultRemoteTimeout          = 30 * time.Second
	DefaultRemoteMaxResponseBytes = 64 << 20
)

// RemoteConfig locates an external Prometheus-compatible HTTP API. The zero
// value of each optional field means its default.
type RemoteConfig struct {
	// URL is the base of the API, to which /api/v1/query is appended:
	// http://prometheus:9090, https://mimir.example.com/prometheus.
	// Required; http or https.
	URL string `yaml:"url"`
	// Headers are sent with every request, e.g. Authorization or
	// X-Scope-OrgID. Nil sends none.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one query, and is passed to the server as its
	// timeout parameter. Zero means [DefaultRemoteTimeout] (30 seconds).
	Timeout time.Duration `yaml:"timeout"`
	// MaxResponseBytes bounds the body of one answer. Zero means
	// [DefaultRemoteMaxResponseBytes] (64 MiB).
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
}

// Validate reports the first invalid field, naming its key.
func (c RemoteConfig) Validate() error {
	if c.URL == "" {
		return errors.New("url: required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("url: must be an http or https URL with a host, got %q", c.URL)
	}
	for name := range c.Headers {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return fmt.Errorf("headers: invalid header name %q", name)
		}
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("timeout: must not be negative, got %s", c.Timeout)
	case c.MaxResponseBytes < 0:
		return fmt.Errorf("max_response_bytes: must not be negative, got %d", c.MaxResponseBytes)
	}
	return nil
}

// Remote is a [Source] over an external Prometheus-compatible HTTP API
// (Prometheus, Mimir, Thanos). Tenant isolation is the server's: queries go
// as they are written. A bad_data answer is an error wrapping
// [ErrBadQuery]. Remote is safe for concurrent use.
type Remote struct {
	base    string
	headers http.Header
	timeout time.Duration
	maxBody int64
	client  *http.Client
}

var _ Source = (*Remote)(nil)

// NewRemote returns a Remote for cfg that sends its requests with client;
// nil means a client of its own.
func NewRemote(cfg RemoteConfig, client *http.Client) (*Remote, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new remote metrics source: %w", err)
	}
	if client == nil {
		client = &http.Client{}
	}
	h := make(http.Header, len(cfg.Headers)+1)
	h.Set("User-Agent", "phoenix/"+version.Version)
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	r := &Remote{
		base:    strings.TrimSuffix(cfg.URL, "/"),
		headers: h,
		timeout: cfg.Timeout,
		maxBody: cfg.MaxResponseBytes,
		client:  client,
	}
	if r.timeout == 0 {
		r.timeout = DefaultRemoteTimeout
	}
	if r.maxBody == 0 {
		r.maxBody = DefaultRemoteMaxResponseBytes
	}
	return r, nil
}

// Query evaluates an instant query at ts.
func (r *Remote) Query(ctx context.Context, query string, ts time.Time) ([]Series, error) {
	v := url.Values{}
	v.Set("query", query)
	v.Set("time", formatTime(ts))
	return r.do(ctx, "query", v)
}

// QueryRange evaluates a range query from start to end every step.
func (r *Remote) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("remote range query: step must be positive, got %s: %w", step, ErrBadQuery)
	}
	v := url.Values{}
	v.Set("query", query)
	v.Set("start", formatTime(start))
	v.Set("end", formatTime(end))
	v.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	return r.do(ctx, "query_range", v)
}

func formatTime(t time.Time) string {
	return string(appendTimestamp(nil, t.UnixMilli()))
}

func (r *Remote) do(ctx context.Context, endpoint string, v url.Values) ([]Series, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v.Set("timeout", strconv.FormatFloat(r.timeout.Seconds(), 'f', -1, 64))
	u := r.base + "/api/v1/" + endpoint + "?" + v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", endpoint, err)
	}
	req.Header = r.headers.Clone()
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("remote %s: read answer: %w", endpoint, err)
	}
	if int64(len(body)) > r.maxBody {
		return nil, fmt.Errorf("remote %s: answer is over %d bytes", endpoint, r.maxBody)
	}

	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status == "" {
		return nil, fmt.Errorf("remote %s: HTTP %d with a body that is not a Prometheus API answer: %q", endpoint, resp.StatusCode, truncate(body, 200))
	}
	if env.Status != "success" {
		if env.ErrorType == "bad_data" {
			return nil, fmt.Errorf("remote %s: %s: %w", endpoint, env.Error, ErrBadQuery)
		}
		return nil, fmt.Errorf("remote %s: %s: %s (HTTP %d)", endpoint, env.ErrorType, env.Error, resp.StatusCode)
	}
	out, err := decodeQueryData(env.Data)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", endpoint, err)
	}
	return out, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// decodeQueryData converts the data of a query answer to series.
func decodeQueryData(data json.RawMessage) ([]Series, error) {
	var qd struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &qd); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	switch qd.ResultType {
	case "matrix":
		var m []struct {
			Metric map[string]string `json:"metric"`
			Values []point           `json:"values"`
		}
		if err := json.Unmarshal(qd.Result, &m); err != nil {
			return nil, fmt.Errorf("decode matrix: %w", err)
		}
		out := make([]Series, 0, len(m))
		for _, s := range m {
			if len(s.Values) == 0 {
				continue
			}
			samples := make([]Sample, len(s.Values))
			for i, p := range s.Values {
				samples[i] = Sample(p)
			}
			out = append(out, Series{Labels: nonNil(s.Metric), Samples: samples})
		}
		return out, nil
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  *point            `json:"value"`
		}
		if err := json.Unmarshal(qd.Result, &vec); err != nil {
			return nil, fmt.Errorf("decode vector: %w", err)
		}
		out := make([]Series, 0, len(vec))
		for _, s := range vec {
			if s.Value == nil {
				continue // a native histogram sample
			}
			out = append(out, Series{Labels: nonNil(s.Metric), Samples: []Sample{Sample(*s.Value)}})
		}
		return out, nil
	case "scalar":
		var p point
		if err := json.Unmarshal(qd.Result, &p); err != nil {
			return nil, fmt.Errorf("decode scalar: %w", err)
		}
		return []Series{{Labels: map[string]string{}, Samples: []Sample{Sample(p)}}}, nil
	default:
		return nil, fmt.Errorf("query result of type %q: %w", qd.ResultType, ErrBadQuery)
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// point is a [t, "v"] pair of Prometheus's API.
type point Sample

// UnmarshalJSON reads [1435781451.781,"1.5"], keeping the millisecond
// timestamp exact.
func (p *point) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 2 {
		return fmt.Errorf("sample %s: want [time, value]", b)
	}
	ms, err := parseMillis(string(raw[0]))
	if err != nil {
		return fmt.Errorf("sample %s: %w", b, err)
	}
	var s string
	if err := json.Unmarshal(raw[1], &s); err != nil {
		return fmt.Errorf("sample %s: value: %w", b, err)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("sample %s: value: %w", b, err)
	}
	p.T = time.UnixMilli(ms).UTC()
	p.V = v
	return nil
}

// parseMillis parses seconds written as a decimal number to milliseconds
// without going through a float, so 1700000000.123 is exactly ...123 ms.
func parseMillis(s string) (int64, error) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if strings.ContainsAny(s, "eE") || (hasFrac && strings.ContainsAny(frac, "+-")) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, err
		}
		return int64(math.Round(f * 1000)), nil
	}
	neg := strings.HasPrefix(intPart, "-")
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, err)
	}
	ms := sec * 1000
	if hasFrac {
		digits := (frac + "000")[:3]
		f, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || strings.Trim(frac, "0123456789") != "" {
			return 0, fmt.Errorf("timestamp %q: invalid fraction", s)
		}
		if len(frac) > 3 && frac[3] >= '5' {
			f++
		}
		if neg {
			f = -f
		}
		ms += f
	}
	return ms, nil
}

// WriteError is a remote-write request the receiver answered with a status
// other than 2xx.
type WriteError struct {
	StatusCode int
	Message    string // the receiver's answer, at most 1 KiB of it
}

// Error says the status and the receiver's answer.
func (e *WriteError) Error() string {
	return fmt.Sprintf("remote write: HTTP %d: %s", e.StatusCode, e.Message)
}

// Retryable reports whether sending the same request again may succeed:
// the receiver failed (5xx) or asked to slow down (429). Other 4xx answers
// mean the request, or part of it, will never be accepted.
func (e *WriteError) Retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// WriteRequest sends series to the remote-write endpoint at url (e.g.
// http://phoenix:8080/prometheus/api/v1/write or Prometheus's
// /api/v1/write) as a snappy-compressed protobuf prometheus.WriteRequest,
// with headers added (e.g. Authorization). A non-2xx answer is a
// *[WriteError]. It sends with http.DefaultClient; ctx bounds the request.
func WriteRequest(ctx context.Context, url string, headers map[string]string, series []prompb.TimeSeries) error {
	wr := prompb.WriteRequest{Timeseries: series}
	data, err := wr.Marshal()
	if err != nil {
		return fmt.Errorf("remote write: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(snappy.Encode(nil, data)))
	if err != nil {
		return fmt.Errorf("remote write: %w", err)
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "phoenix/"+version.Version)
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("remote write: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return &WriteError{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	return nil
}
