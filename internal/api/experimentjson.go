package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/phoenix/platform/internal/experiment"
	"github.com/phoenix/platform/internal/store"
)

// experimentJSON is the JSON form of [Experiment] with the spec already
// encoded. Reads serve it straight from the stored experiment: the stored
// spec is turned into its API form once per distinct document (specJSON),
// not decoded and encoded again on every request. Its fields and tags must
// stay those of Experiment, which the OpenAPI document describes;
// TestStoredExperimentOutMatchesExperimentOut checks that both encode alike.
type experimentJSON struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	State     string          `json:"state"`
	OwnerID   string          `json:"owner_id,omitempty"`
	Spec      json.RawMessage `json:"spec"`
	Verdict   string          `json:"verdict,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	StartedAt *time.Time      `json:"started_at,omitempty"`
	EndedAt   *time.Time      `json:"ended_at,omitempty"`
}

// experimentListJSON is the JSON form of [ExperimentList] made of
// experimentJSON items.
type experimentListJSON struct {
	Items      []experimentJSON `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// storedExperimentOut is the API form of a stored experiment, as
// experimentOut(experiment.FromStore(e)) but without decoding the spec
// again when an identical document was seen before.
func storedExperimentOut(e *store.Experiment) (experimentJSON, error) {
	spec, err := specs.apiForm(e.Spec)
	if err != nil {
		return experimentJSON{}, fmt.Errorf("decode spec of experiment %s: %w", e.ID, err)
	}
	return experimentJSON{
		ID: e.ID, Name: e.Name, State: e.State, OwnerID: e.OwnerID, Spec: spec,
		Verdict: (&experiment.Experiment{Result: e.Result}).Verdict(), Result: e.Result, Version: e.Version,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, StartedAt: e.StartedAt, EndedAt: e.EndedAt,
	}, nil
}

// maxSpecForms bounds specJSON; past it an arbitrary entry makes room.
const maxSpecForms = 4096

// specJSON maps stored spec documents to their API form: decoded into an
// [experiment.Spec] and encoded again as the API encodes responses. The
// mapping depends on the document's bytes alone, so an entry is never stale
// and one table serves every tenant and every API.
type specJSON struct {
	mu    sync.RWMutex
	forms map[string]json.RawMessage
}

var specs = &specJSON{forms: make(map[string]json.RawMessage)}

// apiForm returns the API form of the stored spec document raw. The
// returned bytes are shared and must not be modified.
func (s *specJSON) apiForm(raw []byte) (json.RawMessage, error) {
	s.mu.RLock()
	form, ok := s.forms[string(raw)]
	s.mu.RUnlock()
	if ok {
		return form, nil
	}
	var spec experiment.Spec
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &spec); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(spec); err != nil {
		return nil, err
	}
	form = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	s.mu.Lock()
	if len(s.forms) >= maxSpecForms {
		for k := range s.forms {
			delete(s.forms, k)
			break
		}
	}
	s.forms[string(raw)] = form
	s.mu.Unlock()
	return form, nil
}
