// Package client is the typed Go client of the Phoenix REST API (/api/v1).
// The phoenix CLI and the end-to-end tests use it; it speaks the request
// and response types of package api, so both sides agree on every field.
//
// A Client is safe for concurrent use. Every method takes a context; an
// error from the server is a *Error carrying the API's error envelope.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/version"
)

// DefaultTimeout bounds one HTTP request, unless WithTimeout or
// WithHTTPClient says otherwise.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds the body of one response.
const maxResponseBytes = 64 << 20

// Client calls one Phoenix server with one API key. Build it with New.
type Client struct {
	base      *url.URL
	baseErr   error
	apiKey    string
	http      *http.Client
	userAgent string
	retries   int
	backoff   time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with h (its Timeout
// applies instead of DefaultTimeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithTimeout bounds each request to d; zero means no bound.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		h := *c.http
		h.Timeout = d
		c.http = &h
	}
}

// WithVersion sets the User-Agent to phoenix-cli/<version> (default: this
// build's version).
func WithVersion(version string) Option {
	return func(c *Client) { c.userAgent = "phoenix-cli/" + version }
}

// WithRetries sets how many times a request that is safe to repeat (a GET,
// or a create carrying an Idempotency-Key) is retried after a network error
// or a 429/502/503/504 answer, waiting backoff, then twice as long, and so
// on. The default is 2 retries after 250ms; zero retries disables them.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = max(n, 0), backoff }
}

// New returns a client of the server at baseURL (for example
// http://127.0.0.1:8080; a URL without a scheme gets http://) that
// authenticates with apiKey. A malformed baseURL is reported by every call.
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{
		apiKey:    apiKey,
		http:      &http.Client{Timeout: DefaultTimeout},
		userAgent: "phoenix-cli/" + version.Version,
		retries:   2,
		backoff:   250 * time.Millisecond,
	}
	c.base, c.baseErr = ParseServerURL(baseURL)
	for _, o := range opts {
		o(c)
	}
	return c
}

// ParseServerURL checks a server address and returns it as a URL without a
// trailing slash; "host:port" is taken as http://host:port.
func ParseServerURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("server URL is empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: must not have a query or fragment", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// BaseURL returns the server's URL as the client uses it.
func (c *Client) BaseURL() string {
	if c.base == nil {
		return ""
	}
	return c.base.String()
}

// Error is an error answer of the server: its HTTP status and the API's
// error envelope. Code is empty when the answer was not an API error (a
// proxy's page, say); Message then holds the start of the body.
type Error struct {
	// Method and Path name the request.
	Method string
	Path   string
	// Status is the HTTP status code.
	Status int
	// Code is the API's machine-readable error code.
	Code apierror.Code
	// Message is the server's explanation, for people.
	Message string
	// Details are extra facts, such as an experiment's current_state.
	Details map[string]any
	// Fields lists each bad field of a VALIDATION_ERROR.
	Fields []apierror.FieldError
	// RequestID identifies the request in the server's logs.
	RequestID string
}

// Error renders the error on one line: message, code and status, then each
// bad field.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s, HTTP %d)", e.Code, e.Status)
	} else {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// IsNotFound reports whether err is a NOT_FOUND answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// request is one call of the API.
type request struct {
	method string
	path   string
	query  url.Values
	body   any
	// idempotent adds an Idempotency-Key, so the call may be retried.
	idempotent bool
}

// do sends r and decodes a successful answer into out (nil: ignore it).
func (c *Client) do(ctx context.Context, r request, out any) error {
	if c.baseErr != nil {
		return c.baseErr
	}
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("encode %s %s: %w", r.method, r.path, err)
		}
	}
	key := ""
	if r.idempotent {
		key = newIdempotencyKey()
	}
	retryable := r.method == http.MethodGet || key != ""
	wait := c.backoff
	for attempt := 0; ; attempt++ {
		raw, err := c.send(ctx, r, body, key)
		if err == nil {
			if out == nil || raw == nil {
				return nil
			}
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("decode answer of %s %s: %w", r.method, r.path, err)
			}
			return nil
		}
		if !retryable || attempt >= c.retries || !temporary(err) || ctx.Err() != nil {
			return err
		}
		if d := retryAfter(err); d > 0 {
			wait = d
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}

// send performs one attempt. It returns the body of a 2xx answer (nil for
// 204) or an error: *Error for an error answer, *netError otherwise.
func (c *Client) send(ctx context.Context, r request, body []byte, idemKey string) ([]byte, error) {
	u := *c.base
	// r.path holds escaped segments (pathID); keep them escaped on the wire.
	u.RawPath = c.base.EscapedPath() + r.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", r.method, r.path, err)
	}
	u.Path = p
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", r.method, r.path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, &netError{op: r.method + " " + u.Redacted(), err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return nil, &netError{op: "read answer of " + r.method + " " + r.path, err: err}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if res.StatusCode == http.StatusNoContent || len(raw) == 0 {
			return nil, nil
		}
		return raw, nil
	}
	return nil, decodeError(r, res, raw)
}

// decodeError turns an error answer into an *Error.
func decodeError(r request, res *http.Response, raw []byte) *Error {
	e := &Error{Method: r.method, Path: r.path, Status: res.StatusCode, RequestID: res.Header.Get("X-Request-ID")}
	var env struct {
		Error *struct {
			Code    apierror.Code         `json:"code"`
			Message string                `json:"message"`
			Details map[string]any        `json:"details"`
			Fields  []apierror.FieldError `json:"fields"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil && env.Error.Code != "" {
		e.Code, e.Message, e.Details, e.Fields = env.Error.Code, env.Error.Message, env.Error.Details, env.Error.Fields
		if env.RequestID != "" {
			e.RequestID = env.RequestID
		}
	} else {
		e.Message = http.StatusText(res.StatusCode)
		if text := strings.TrimSpace(string(raw)); text != "" {
			if len(text) > 200 {
				text = text[:200] + "..."
			}
			e.Message += ": " + text
		}
	}
	if s := res.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			if e.Details == nil {
				e.Details = map[string]any{}
			}
			e.Details["retry_after_seconds"] = float64(n)
		}
	}
	return e
}

// netError is a request that got no answer.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string { return e.op + ": " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// temporary reports whether a retry may succeed.
func temporary(err error) bool {
	var ne *netError
	if errors.As(err, &ne) {
		return !errors.Is(err, context.Canceled)
	}
	var ae *Error
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// retryAfter returns the wait a 429/503 answer asked for, at most 5s.
func retryAfter(err error) time.Duration {
	var ae *Error
	if !errors.As(err, &ae) {
		return 0
	}
	if s, ok := ae.Details["retry_after_seconds"].(float64); ok {
		return min(time.Duration(s)*time.Second, 5*time.Second)
	}
	return 0
}

func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pathID escapes one path segment.
func pathID(id string) string { return url.PathEscape(id) }

// pageQuery adds the cursor and limit of a list call.
func pageQuery(q url.Values, cursor string, limit int) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// call sends r and decodes a successful answer into a new T.
func call[T any](ctx context.Context, c *Client, r request) (*T, error) {
	var out T
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// pages yields the items of every page fetch returns, starting at cursor,
// until a page has no next cursor; it stops at the first error, which it
// yields.
func pages[T any](fetch func(cursor string) ([]T, string, error), cursor string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			items, next, err := fetch(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}
