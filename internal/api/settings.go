package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/phoenix/platform/internal/analysis"
	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/auth"
	"github.com/phoenix/platform/internal/store"
)

// MaxPricingProfiles bounds the pricing profiles a tenant may store; every
// analysis prices each of them.
const MaxPricingProfiles = 32

// maxProfileName bounds a profile's name, in characters.
const maxProfileName = 100

// currencyCode is an ISO 4217 alphabetic code.
var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// PricingSettings are the pricing profiles the cost model prices a tenant's
// experiments with.
type PricingSettings struct {
	// Profiles are the profiles, in the order verdicts report them.
	Profiles []analysis.Pricing `json:"profiles"`
	// Default is true when the tenant stored none: Profiles are then the
	// shipped examples, and Version is 0.
	Default bool `json:"default"`
	// Version is the stored settings' version, to send back with the next
	// PUT; 0 with the defaults.
	Version int64 `json:"version"`
	// UpdatedAt and UpdatedBy tell when and by whom the profiles were last
	// stored; absent with the defaults.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	UpdatedBy string     `json:"updated_by,omitempty"`
}

// PricingWrite is the body of PUT /api/v1/settings/pricing: the complete
// list of profiles, replacing the stored one.
type PricingWrite struct {
	// Profiles are 1 to MaxPricingProfiles profiles with unique names.
	Profiles []analysis.Pricing `json:"profiles"`
	// Version is the version read (or send If-Match); the write is refused
	// with 412 if the profiles changed since. 0 or absent replaces whatever
	// is stored.
	Version int64 `json:"version,omitempty"`
}

func (a *API) settingsRoutes() []*route {
	const res = auth.ResourceSettings
	return []*route{
		{Method: "GET", Path: "/api/v1/settings/pricing", Summary: "Get the tenant's pricing profiles (the defaults when none are stored)", Tag: res, Resource: res, Action: auth.ActionRead,
			Response: PricingSettings{}, Handle: a.pricingGet},
		{Method: "PUT", Path: "/api/v1/settings/pricing", Summary: "Replace the tenant's pricing profiles", Tag: res, Resource: res, Action: auth.ActionWrite,
			Request: PricingWrite{}, Response: PricingSettings{}, Handle: a.pricingPut},
	}
}

// PricingFor returns the function that gives the cost model a tenant's
// pricing profiles (analysis.Settings.Pricing): the profiles stored in st,
// or analysis.DefaultPricing when the tenant stored none.
func PricingFor(st store.Store) func(ctx context.Context, tenantID string) ([]analysis.Pricing, error) {
	return func(ctx context.Context, tenantID string) ([]analysis.Pricing, error) {
		out, _, err := loadPricing(ctx, st, tenantID)
		return out.Profiles, err
	}
}

// loadPricing reads the tenant's profiles, or the defaults when none are
// stored.
func loadPricing(ctx context.Context, st store.Store, tenantID string) (PricingSettings, *store.TenantSettings, error) {
	ts, err := st.TenantSettingsGet(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return PricingSettings{Profiles: analysis.DefaultPricing(), Default: true}, nil, nil
	}
	if err != nil {
		return PricingSettings{}, nil, err
	}
	out, err := pricingOut(ts)
	return out, ts, err
}

func pricingOut(ts *store.TenantSettings) (PricingSettings, error) {
	var profiles []analysis.Pricing
	if err := json.Unmarshal(ts.Pricing, &profiles); err != nil {
		return PricingSettings{}, fmt.Errorf("decode pricing of tenant %s: %w", ts.TenantID, err)
	}
	at := ts.UpdatedAt
	return PricingSettings{Profiles: profiles, Version: ts.Version, UpdatedAt: &at, UpdatedBy: ts.UpdatedBy}, nil
}

func (a *API) pricingGet(c *call) (any, error) {
	out, ts, err := loadPricing(c.r.Context(), a.deps.Store, c.tenant())
	if err != nil {
		return nil, err
	}
	if ts != nil {
		setETag(c.w, ts.Version)
	}
	return out, nil
}

func (a *API) pricingPut(c *call) (any, error) {
	var in PricingWrite
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.Version < 0 {
		return nil, apierror.Validation(apierror.FieldError{Field: "version", Message: "must not be negative"})
	}
	version, err := c.ifMatch()
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = in.Version
	}
	if err := validateProfiles(in.Profiles); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(in.Profiles)
	if err != nil {
		return nil, fmt.Errorf("encode pricing: %w", err)
	}
	ts, err := a.deps.Store.TenantSettingsPut(c.r.Context(), &store.TenantSettingsPutParams{
		TenantID: c.tenant(), Pricing: raw, Version: version, UpdatedBy: c.actor(),
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(in.Profiles))
	for i, p := range in.Profiles {
		names[i] = p.Name
	}
	a.audit(c, "settings.pricing.update", "settings", "pricing", map[string]any{"version": ts.Version, "profiles": names})
	setETag(c.w, ts.Version)
	return pricingOut(ts)
}

// validateProfiles checks a list of profiles: each valid
// (analysis.Pricing.Validate), names unique and printable, currencies ISO
// 4217 codes. Field paths name the profile, e.g. profiles[1].unit_price.
func validateProfiles(ps []analysis.Pricing) error {
	switch {
	case len(ps) == 0:
		return apierror.Validation(apierror.FieldError{Field: "profiles", Message: "at least one profile is required"})
	case len(ps) > MaxPricingProfiles:
		return apierror.Validation(apierror.FieldError{Field: "profiles", Message: fmt.Sprintf("at most %d profiles, got %d", MaxPricingProfiles, len(ps))})
	}
	var fields []apierror.FieldError
	first := make(map[string]int, len(ps))
	for i, p := range ps {
		path := fmt.Sprintf("profiles[%d]", i)
		for _, err := range leaves(p.Validate()) {
			key, msg, ok := strings.Cut(err.Error(), ": ")
			if !ok {
				fields = append(fields, apierror.FieldError{Field: path, Message: err.Error()})
				continue
			}
			fields = append(fields, apierror.FieldError{Field: path + "." + key, Message: msg})
		}
		if p.Name != "" {
			if !printable(p.Name) || utf8.RuneCountInString(p.Name) > maxProfileName {
				fields = append(fields, apierror.FieldError{Field: path + ".name", Message: fmt.Sprintf("must be at most %d printable characters", maxProfileName)})
			}
			if j, dup := first[p.Name]; dup {
				fields = append(fields, apierror.FieldError{Field: path + ".name", Message: fmt.Sprintf("%q is already the name of profiles[%d]; names must be unique", p.Name, j)})
			} else {
				first[p.Name] = i
			}
		}
		if p.Currency != "" && !currencyCode.MatchString(p.Currency) {
			fields = append(fields, apierror.FieldError{Field: path + ".currency", Message: fmt.Sprintf("%q is not an ISO 4217 code such as USD", p.Currency)})
		}
	}
	if len(fields) > 0 {
		return apierror.Validation(fields...)
	}
	return nil
}

// leaves lists the errors joined in err (errors.Join), or err alone.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
