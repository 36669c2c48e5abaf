package pipeline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FieldError is one problem found while validating a pipeline, an assignment
// or a collector config. Path names the offending key the way a reader finds
// it in the document (`processors[1]`, `params.k`,
// `experiments[0].candidate.params.critical_processes[2]`); it is empty when
// the problem concerns the document as a whole.
type FieldError struct {
	Path    string `json:"path" yaml:"path"`
	Message string `json:"message" yaml:"message"`
}

// Error renders the error as "path: message".
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// ValidationError collects every FieldError found in one validation, so a
// user sees all problems of a document at once. Validation functions return
// a *ValidationError (never an empty one); retrieve it with errors.As.
type ValidationError struct {
	Errors []FieldError `json:"errors" yaml:"errors"`
}

// Error renders one line per field error.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// errorList accumulates field errors under a path prefix.
type errorList []FieldError

// add records a problem at path.
func (l *errorList) add(path, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	*l = append(*l, FieldError{Path: path, Message: msg})
}

// addErr records err at path. Errors joined with errors.Join (as
// confmap.Validate returns them) become one FieldError each; a nested
// *ValidationError keeps its own paths, prefixed with path.
func (l *errorList) addErr(path string, err error) {
	if err == nil {
		return
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			*l = append(*l, FieldError{Path: join(path, fe.Path), Message: fe.Message})
		}
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			l.addErr(path, e)
		}
		return
	}
	*l = append(*l, FieldError{Path: path, Message: err.Error()})
}

// merge appends other's errors, their paths prefixed with prefix.
func (l *errorList) merge(prefix string, other errorList) {
	for _, fe := range other {
		*l = append(*l, FieldError{Path: join(prefix, fe.Path), Message: fe.Message})
	}
}

// err returns the list as a *ValidationError, or nil when it is empty.
func (l errorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return &ValidationError{Errors: append([]FieldError(nil), l...)}
}

// join appends a path element: a key ("k" -> "params.k") or an index
// ("[2]" -> "rules[2]").
func join(prefix, elem string) string {
	switch {
	case prefix == "":
		return elem
	case elem == "":
		return prefix
	case strings.HasPrefix(elem, "["):
		return prefix + elem
	default:
		return prefix + "." + elem
	}
}

// index renders a list element path: index("processors", 1) = "processors[1]".
func index(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}
