package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/client"
)

// failure is an operation that did not succeed, with a message ready for
// people (it may span lines: fields, details, a hint). It exits with
// ExitFailed.
type failure struct {
	msg string
	err error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.err }

// rejectedError is the reject verdict of an experiment when the caller asked
// for it to fail the command (--fail-on-reject). It exits with ExitRejected.
type rejectedError struct{ id string }

func (e *rejectedError) Error() string {
	return fmt.Sprintf("experiment %s: the verdict is reject", e.id)
}

// explain turns an error of a command body into what the user reads.
func (a *app) explain(err error) error {
	if err == nil {
		return nil
	}
	var (
		ue  *UsageError
		fe  *failure
		re  *rejectedError
		ce  *client.Error
		ue2 *url.Error
	)
	switch {
	case errors.As(err, &ue), errors.As(err, &fe), errors.As(err, &re):
		return err
	case errors.Is(err, context.Canceled) && a.ctx.Err() != nil:
		return &failure{msg: "interrupted", err: err}
	case errors.As(err, &ce):
		return &failure{msg: a.describe(ce), err: err}
	case errors.As(err, &ue2):
		msg := fmt.Sprintf("cannot reach the Phoenix server at %s: %v", a.server, ue2.Err)
		if ue2.Timeout() {
			msg = fmt.Sprintf("the Phoenix server at %s did not answer in time", a.server)
		}
		return &failure{msg: msg + "\n  hint: is it running? Start one with: phoenix server, or point --server at it", err: err}
	}
	return err
}

// describe renders a server error: message, code, each bad field, details,
// the request ID, and a hint where one helps.
func (a *app) describe(e *client.Error) string {
	var b strings.Builder
	if e.Code != "" {
		fmt.Fprintf(&b, "%s: %s", e.Code, e.Message)
	} else {
		fmt.Fprintf(&b, "HTTP %d: %s", e.Status, e.Message)
	}
	if e.Code == apierror.CodeValidation && len(e.Fields) == 1 && e.Message == e.Fields[0].Field+": "+e.Fields[0].Message {
		// The message already is the one field.
	} else {
		for _, f := range e.Fields {
			fmt.Fprintf(&b, "\n  %s: %s", dash(f.Field), f.Message)
		}
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %s", k, fmtValue(e.Details[k]))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, "\n  request id: %s", e.RequestID)
	}
	if h := a.hint(e); h != "" {
		fmt.Fprintf(&b, "\n  hint: %s", h)
	}
	return b.String()
}

// listCommands names the command that lists what an API path holds.
var listCommands = []struct{ prefix, command string }{
	{"/api/v1/experiments", "phoenix experiment list"},
	{"/api/v1/deployments", "phoenix deployment list"},
	{"/api/v1/agents", "phoenix agent list"},
	{"/api/v1/catalog", "phoenix pipeline list"},
	{"/api/v1/pipelines", "phoenix pipeline list"},
	{"/api/v1/apikeys", "phoenix apikey list"},
	{"/api/v1/tokens", "phoenix token list"},
}

func (a *app) hint(e *client.Error) string {
	switch e.Status {
	case http.StatusUnauthorized:
		if a.refusedHint != "" {
			return a.refusedHint
		}
		if a.keyFromConfig {
			return "the API key was refused: run phoenix login again"
		}
		return "the API key was refused: check --api-key / " + envAPIKey + ", or run phoenix login again"
	case http.StatusForbidden:
		return "this API key's role does not allow it; use a key whose role does (viewer reads, editor also changes experiments, pipelines and deployments, admin also manages keys and tokens)"
	case http.StatusNotFound:
		if e.Code == apierror.CodeNotFound && strings.Contains(e.Message, "no analysis yet") {
			return "the analysis appears once the experiment runs; follow it with: phoenix experiment watch ID"
		}
		if e.Code == "" {
			return "is --server the Phoenix server's URL?"
		}
		for _, lc := range listCommands {
			if strings.HasPrefix(e.Path, lc.prefix+"/") {
				return "list what exists with: " + lc.command
			}
		}
	case http.StatusConflict:
		if _, ok := e.Details["verdict"]; ok && strings.HasSuffix(e.Path, "/promote") {
			return "pass --force to promote against the verdict"
		}
	case http.StatusTooManyRequests:
		return "the server is rate limiting this key; retry in a moment"
	}
	return ""
}

// commandLineError reports whether err is cobra's or pflag's complaint
// about the command line itself (an unknown command or flag, a bad flag
// value), raised before any command of ours runs.
func commandLineError(err error) bool {
	var (
		ne *pflag.NotExistError
		vr *pflag.ValueRequiredError
		iv *pflag.InvalidValueError
		is *pflag.InvalidSyntaxError
	)
	if errors.As(err, &ne) || errors.As(err, &vr) || errors.As(err, &iv) || errors.As(err, &is) {
		return true
	}
	// cobra's own errors are untyped; their wording is stable.
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "unknown flag: ") ||
		strings.HasPrefix(msg, "unknown shorthand flag: ") || strings.HasPrefix(msg, "required flag(s) ")
}
