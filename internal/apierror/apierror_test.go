package apierror_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/apierror"
)

func TestStatusAndFrom(t *testing.T) {
	cases := []struct {
		err    error
		code   apierror.Code
		status int
	}{
		{apierror.NotFound("experiment", "x"), apierror.CodeNotFound, http.StatusNotFound},
		{fmt.Errorf("wrap: %w", apierror.New(apierror.CodeConflict, "busy")), apierror.CodeConflict, http.StatusConflict},
		{errors.New("boom"), apierror.CodeInternal, http.StatusInternalServerError},
		{apierror.Validation(apierror.FieldError{Field: "name", Message: "required"}), apierror.CodeValidation, http.StatusBadRequest},
		{&apierror.Error{Code: apierror.CodeConflict, Status: http.StatusPreconditionFailed}, apierror.CodeConflict, http.StatusPreconditionFailed},
	}
	for _, c := range cases {
		e := apierror.From(c.err)
		require.Equal(t, c.code, e.Code, c.err)
		require.Equal(t, c.status, e.HTTPStatus(), c.err)
	}
}

func TestValidationSortsFieldsAndNamesThem(t *testing.T) {
	e := apierror.Validation(
		apierror.FieldError{Field: "spec.duration", Message: "must be positive"},
		apierror.FieldError{Field: "name", Message: "required"},
	)
	require.Equal(t, "name", e.Fields[0].Field)
	require.Contains(t, e.Error(), "spec.duration: must be positive")
	one := apierror.Validation(apierror.FieldError{Field: "name", Message: "required"})
	require.Equal(t, "name: required", one.Message)
}

func TestInternalHidesCause(t *testing.T) {
	e := apierror.Internal(errors.New("password=hunter2"))
	require.Equal(t, "internal error", e.Message)
	require.ErrorContains(t, e, "hunter2", "the cause stays available to logs")
}
