package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/pipeline"
	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/telemetry"
)

// envelope is the JSON body of every error response.
type envelope struct {
	Error     *apierror.Error `json:"error"`
	RequestID string          `json:"request_id,omitempty"`
}

// toAPIError maps any error to the API's error type. It is the only place
// that knows how store and pipeline errors look to a client.
func toAPIError(err error) *apierror.Error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae
	}
	var te *store.TransitionError
	var ve *pipeline.ValidationError
	switch {
	case errors.As(err, &te):
		return apierror.New(apierror.CodeConflict, "experiment is %s; cannot go to %s", te.Current, te.To).
			WithDetail("current_state", te.Current)
	case errors.As(err, &ve):
		fields := make([]apierror.FieldError, 0, len(ve.Errors))
		for _, fe := range ve.Errors {
			fields = append(fields, apierror.FieldError{Field: fe.Path, Message: fe.Message})
		}
		return apierror.Validation(fields...)
	case errors.Is(err, store.ErrNotFound):
		return apierror.New(apierror.CodeNotFound, "not found")
	case errors.Is(err, store.ErrVersionConflict):
		return &apierror.Error{Code: apierror.CodePrecondition, Message: "the resource changed since it was read; fetch it again and retry", Err: err}
	case errors.Is(err, store.ErrConflict):
		return &apierror.Error{Code: apierror.CodeConflict, Message: "a resource with that identity already exists", Err: err}
	case errors.Is(err, store.ErrInvalid):
		return &apierror.Error{Code: apierror.CodeValidation, Message: err.Error(), Err: err}
	}
	return apierror.Internal(err)
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	status := ae.HTTPStatus()
	if status >= 500 {
		a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{Error: ae, RequestID: telemetry.RequestID(r.Context())})
}

func errRouteNotFound(r *http.Request) error {
	return apierror.New(apierror.CodeNotFound, "no route %s %s", r.Method, r.URL.Path)
}
