package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

// route is one endpoint: its method and path, what it needs, what it takes
// and returns (for the OpenAPI document), and its handler.
type route struct {
	Method  string
	Path    string
	Summary string
	Tag     string
	// Resource and Action are checked against the caller's role.
	Resource string
	Action   string
	// Request and Response are zero values of the body types; nil means none.
	Request  any
	Response any
	// Status is the success status (default 200).
	Status int
	// Idempotent routes honour an Idempotency-Key header.
	Idempotent bool
	// Atomic routes run their store calls in one transaction: the resource,
	// its audit entry and the Idempotency-Key's record commit together, or
	// nothing does. Only for handlers whose effects are store writes.
	Atomic bool
	// Query lists the query parameters the route reads.
	Query  []string
	Handle func(c *call) (any, error)
}

// call is one request being served.
type call struct {
	a *API
	w http.ResponseWriter
	r *http.Request
	p *auth.Principal
	// status overrides the route's success status.
	status int
}

func (c *call) tenant() string { return c.p.TenantID }

func (c *call) actor() string { return c.p.Actor }

// decode reads a JSON body into dst: bounded size, unknown fields refused,
// exactly one JSON value.
func (c *call) decode(dst any) error {
	if ct := c.r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
		return apierror.New(apierror.CodeUnsupported, "Content-Type must be application/json, not %q", ct)
	}
	body := http.MaxBytesReader(c.w, c.r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return apierror.New(apierror.CodeValidation, "request body must hold a single JSON object")
	}
	return nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return apierror.New(apierror.CodeTooLarge, "request body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return apierror.New(apierror.CodeValidation, "request body is empty; send a JSON object")
	case errors.As(err, &se):
		return apierror.New(apierror.CodeValidation, "request body is not valid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(root)"
		}
		return apierror.Validation(apierror.FieldError{Field: field, Message: fmt.Sprintf("must be %s, not %s", te.Type, te.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apierror.Validation(apierror.FieldError{Field: name, Message: "unknown field"})
	}
	return apierror.New(apierror.CodeValidation, "request body: %v", err)
}

// ifMatch returns the version an If-Match header names ("3" or "\"3\""), or
// 0 when absent.
func (c *call) ifMatch() (int64, error) {
	h := strings.TrimSpace(c.r.Header.Get("If-Match"))
	if h == "" {
		return 0, nil
	}
	h = strings.TrimPrefix(h, "W/")
	v, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || v <= 0 {
		return 0, apierror.Validation(apierror.FieldError{Field: "If-Match", Message: "must be the resource's ETag, e.g. \"3\""})
	}
	return v, nil
}

func setETag(w http.ResponseWriter, version int64) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(version, 10)+`"`)
}

// limit reads the limit query parameter (1..store.MaxPageLimit, default 50).
func (c *call) limit() (int, error) {
	s := c.r.URL.Query().Get("limit")
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > store.MaxPageLimit {
		return 0, apierror.Validation(apierror.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer between 1 and %d", store.MaxPageLimit)})
	}
	return n, nil
}

// wrap authenticates, authorizes, runs the handler and writes its result.
func (a *API) wrap(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.deps.Authenticator.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="phoenix"`)
			a.writeError(w, r, err)
			return
		}
		if err := a.deps.Authorizer.Authorize(p, rt.Resource, rt.Action); err != nil {
			a.writeError(w, r, err)
			return
		}
		r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		c := &call{a: a, w: w, r: r, p: p}
		idempotent := rt.Idempotent && r.Header.Get("Idempotency-Key") != ""
		switch {
		case rt.Atomic:
			a.serveAtomic(c, rt, idempotent)
		case idempotent:
			a.serveIdempotent(c, rt)
		default:
			a.serve(c, rt, w)
		}
	})
}

func (a *API) serve(c *call, rt *route, w http.ResponseWriter) {
	out, err := rt.Handle(c)
	if err != nil {
		a.writeError(w, c.r, err)
		return
	}
	status := rt.Status
	if c.status != 0 {
		status = c.status
	}
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusNoContent || out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
}

// idempotencyTTL is how long a create's response is replayed for its key.
const idempotencyTTL = 24 * time.Hour

// idempotencyClaimTTL is how long a key stays claimed by a request that
// never finished (the server stopped while serving it).
const idempotencyClaimTTL = time.Minute

// serveIdempotent replays the stored response of an Idempotency-Key seen
// before with the same request, refuses the key with a different request
// or while its first request is still being served, and otherwise claims
// the key, serves, and stores the response. The claim comes first, so of
// simultaneous first uses of a key exactly one is served.
func (a *API) serveIdempotent(c *call, rt *route) {
	key, hash, body, ok := a.idempotencyRequest(c)
	if !ok {
		return
	}
	ctx := c.r.Context()
	prev, claimed, err := a.deps.Store.IdempotencyClaim(ctx, &store.IdempotencyClaimParams{
		TenantID: c.tenant(), Key: key, RequestHash: hash, ExpiresAt: a.now().Add(idempotencyClaimTTL),
	})
	if err != nil {
		a.writeError(c.w, c.r, err)
		return
	}
	if !claimed {
		a.replay(c.w, c.r, key, hash, prev)
		return
	}
	c.r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{header: c.w.Header()}
	a.serve(&call{a: a, w: rec, r: c.r, p: c.p}, rt, rec)
	// The outcome is recorded even if the client has gone: it may retry.
	bg := context.WithoutCancel(ctx)
	if rec.status < 500 {
		_, err := a.deps.Store.IdempotencyPut(bg, &store.IdempotencyPutParams{
			TenantID: c.tenant(), Key: key, RequestHash: hash,
			ResponseStatus: rec.status, ResponseBody: rec.body.Bytes(),
			ExpiresAt: a.now().Add(idempotencyTTL),
		})
		if err != nil {
			a.log.WarnContext(ctx, "store idempotency record", "err", err)
		}
	} else if err := a.deps.Store.IdempotencyRelease(bg, c.tenant(), key, hash); err != nil {
		a.log.WarnContext(ctx, "release idempotency key", "err", err)
	}
	c.w.WriteHeader(rec.status)
	_, _ = c.w.Write(rec.body.Bytes())
}

// errRollback rolls an Atomic route's transaction back after its response
// was recorded.
var errRollback = errors.New("roll back")

// serveAtomic serves an Atomic route in one store transaction, and sends the
// response once the transaction has committed; a failed commit answers with
// its error instead. A response of 300 or more rolls the transaction back.
// With an Idempotency-Key the key is claimed and its record written in the
// same transaction, so a create and its record commit together: a retry
// after a crash either replays the response or creates anew, never both. A
// request with a key in use waits for the first to commit and replays its
// response.
func (a *API) serveAtomic(c *call, rt *route, idempotent bool) {
	var (
		key, hash string
		body      []byte
	)
	if idempotent {
		var ok bool
		if key, hash, body, ok = a.idempotencyRequest(c); !ok {
			return
		}
	}
	rec := &recorder{header: c.w.Header()}
	err := a.deps.Store.Atomic(c.r.Context(), func(ctx context.Context) error {
		r := c.r.WithContext(ctx)
		if idempotent {
			r.Body = io.NopCloser(bytes.NewReader(body))
			prev, claimed, err := a.deps.Store.IdempotencyClaim(ctx, &store.IdempotencyClaimParams{
				TenantID: c.tenant(), Key: key, RequestHash: hash, ExpiresAt: a.now().Add(idempotencyClaimTTL),
			})
			if err != nil {
				return err
			}
			if !claimed {
				a.replay(rec, r, key, hash, prev)
				return errRollback
			}
		}
		a.serve(&call{a: a, w: rec, r: r, p: c.p}, rt, rec)
		if rec.status >= 300 && !(idempotent && rec.status < 500) {
			return errRollback
		}
		if idempotent {
			// A 4xx answer is recorded as well: the same request gets it
			// again. A handler whose store call failed leaves PostgreSQL's
			// transaction unusable; the answer is then sent unrecorded.
			if _, err := a.deps.Store.IdempotencyPut(ctx, &store.IdempotencyPutParams{
				TenantID: c.tenant(), Key: key, RequestHash: hash,
				ResponseStatus: rec.status, ResponseBody: rec.body.Bytes(),
				ExpiresAt: a.now().Add(idempotencyTTL),
			}); err != nil {
				if rec.status >= 300 {
					return errRollback
				}
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRollback) {
		// Nothing was created: drop what the handler said about it.
		c.w.Header().Del("Location")
		c.w.Header().Del("ETag")
		a.writeError(c.w, c.r, err)
		return
	}
	c.w.WriteHeader(rec.status)
	_, _ = c.w.Write(rec.body.Bytes())
}

// idempotencyRequest reads the Idempotency-Key and the body of a request and
// hashes them with its method and path. On a bad key or body it answers the
// request and ok is false.
func (a *API) idempotencyRequest(c *call) (key, hash string, body []byte, ok bool) {
	key = c.r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		a.writeError(c.w, c.r, apierror.Validation(apierror.FieldError{Field: "Idempotency-Key", Message: "at most 255 characters"}))
		return "", "", nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, MaxBodyBytes))
	if err != nil {
		a.writeError(c.w, c.r, bodyError(err))
		return "", "", nil, false
	}
	sum := sha256.Sum256(append([]byte(c.r.Method+" "+c.r.URL.Path+"\n"), body...))
	return key, hex.EncodeToString(sum[:]), body, true
}

// replay answers a request whose Idempotency-Key holds the record prev: its
// response when the request is the same and was served, a conflict when the
// key was used with another request or its request is still being served.
func (a *API) replay(w http.ResponseWriter, r *http.Request, key, hash string, prev *store.IdempotencyRecord) {
	switch {
	case prev.RequestHash != hash:
		a.writeError(w, r, apierror.New(apierror.CodeConflict, "Idempotency-Key %q was used with a different request", key))
	case prev.Pending():
		w.Header().Set("Retry-After", "1")
		a.writeError(w, r, apierror.New(apierror.CodeConflict, "the request with Idempotency-Key %q is still being served; retry shortly", key))
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(prev.ResponseStatus)
		_, _ = w.Write(prev.ResponseBody)
	}
}

// recorder buffers a response so it can be stored before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
