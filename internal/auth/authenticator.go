package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/phoenix/platform/internal/apierror"
	"github.com/phoenix/platform/internal/store"
)

// DefaultTouchInterval is how often at most the last use of one API key is
// written to the store.
const DefaultTouchInterval = time.Minute

// maxTouchEntries bounds the in-memory throttle before it is swept.
const maxTouchEntries = 4096

// CredentialStore is the part of [store.Store] the [Authenticator] reads and
// writes.
type CredentialStore interface {
	APIKeyGetByHash(ctx context.Context, hash string) (*store.APIKey, error)
	APIKeyTouch(ctx context.Context, tenantID, id string, at time.Time) error
	EnrollmentTokenGetByHash(ctx context.Context, hash string) (*store.EnrollmentToken, error)
}

// Settings are the optional dependencies of an [Authenticator]. The zero
// value is ready to use.
type Settings struct {
	// Logger receives failures to record a key's last use; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TouchInterval is the least time between two writes of one key's last
	// use; zero means [DefaultTouchInterval].
	TouchInterval time.Duration
	// CacheTTL is how long an API key the store resolved is trusted without
	// asking the store again; zero (or less) caches nothing. A key revoked
	// through a store wrapped by [Authenticator.ForgetRevoked], or passed to
	// [Authenticator.ForgetKey], is refused at once; one revoked any other
	// way (e.g. through another replica) authenticates for at most CacheTTL
	// more. Expiry is always checked at the time of the request.
	CacheTTL time.Duration
}

// Authenticator turns the Authorization header of a request into a
// [Principal] (API keys) or an [AgentIdentity] (enrollment tokens). It is safe
// for concurrent use.
type Authenticator struct {
	st       CredentialStore
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	cache    *keyCache // nil when Settings.CacheTTL is not positive

	mu      sync.Mutex
	touched map[keyRef]time.Time // last write attempt per key
}

// keyRef names an API key.
type keyRef struct{ tenantID, id string }

// NewAuthenticator returns an Authenticator over st.
func NewAuthenticator(st CredentialStore, set Settings) *Authenticator {
	a := &Authenticator{
		st:       st,
		log:      set.Logger,
		now:      set.Now,
		interval: set.TouchInterval,
		touched:  make(map[keyRef]time.Time),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.interval <= 0 {
		a.interval = DefaultTouchInterval
	}
	if set.CacheTTL > 0 {
		a.cache = newKeyCache(set.CacheTTL)
	}
	return a
}

// Authenticate checks an Authorization header of the form
// "Bearer phx_...". A missing, malformed, unknown, revoked or expired key is
// an [*apierror.Error] with [apierror.CodeUnauthorized] whose message never
// contains the presented secret; a store failure is an INTERNAL_ERROR. The
// key's last use is recorded at most once per touch interval; a failure to
// record it is logged and does not fail the request. With a cache
// (Settings.CacheTTL) a key is looked up at most once per TTL.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (*Principal, error) {
	secret, err := bearer(authorization, APIKeyPrefix, "API key")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(secret))
	now := a.now()
	var gen uint64
	if a.cache != nil {
		var k *store.APIKey
		if k, gen = a.cache.get(sum, now); k != nil {
			return a.principal(ctx, k, now)
		}
	}
	hash := hex.EncodeToString(sum[:])
	k, err := a.st.APIKeyGetByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, unauthorized("invalid API key")
	case err != nil:
		return nil, apierror.Internal(fmt.Errorf("authenticate api key: %w", err))
	}
	if !sameHash(k.Hash, hash) {
		return nil, unauthorized("invalid API key")
	}
	p, err := a.principal(ctx, k, now)
	if err == nil && a.cache != nil {
		a.cache.put(sum, k, gen, now)
	}
	return p, err
}

// principal checks that the key is usable at now, records its use and
// returns its principal.
func (a *Authenticator) principal(ctx context.Context, k *store.APIKey, now time.Time) (*Principal, error) {
	if k.RevokedAt != nil {
		return nil, unauthorized("API key %s was revoked", k.Prefix)
	}
	if !k.Usable(now) {
		return nil, unauthorized("API key %s has expired", k.Prefix)
	}
	a.touch(ctx, k, now)
	return &Principal{TenantID: k.TenantID, KeyID: k.ID, Role: k.Role, Actor: KeyActor(k.ID)}, nil
}

// AuthenticateAgent checks an Authorization header of the form
// "Bearer phxa_..." carrying an enrollment token. Errors are as for
// [Authenticator.Authenticate].
func (a *Authenticator) AuthenticateAgent(ctx context.Context, authorization string) (*AgentIdentity, error) {
	secret, err := bearer(authorization, EnrollmentTokenPrefix, "enrollment token")
	if err != nil {
		return nil, err
	}
	tok, err := a.st.EnrollmentTokenGetByHash(ctx, HashSecret(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, unauthorized("invalid enrollment token")
	case err != nil:
		return nil, apierror.Internal(fmt.Errorf("authenticate enrollment token: %w", err))
	}
	if !sameHash(tok.Hash, HashSecret(secret)) {
		return nil, unauthorized("invalid enrollment token")
	}
	if tok.RevokedAt != nil {
		return nil, unauthorized("enrollment token %s was revoked", tok.Prefix)
	}
	if !tok.Usable(a.now()) {
		return nil, unauthorized("enrollment token %s has expired", tok.Prefix)
	}
	labels := maps.Clone(tok.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	return &AgentIdentity{TenantID: tok.TenantID, TokenID: tok.ID, Labels: labels}, nil
}

// touch records the key's use unless it was recorded, by this process or
// (per the stored LastUsedAt) by any other, less than an interval ago. The
// attempt is throttled whether or not the write succeeds, so a failing
// database is not written to on every request.
func (a *Authenticator) touch(ctx context.Context, k *store.APIKey, now time.Time) {
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < a.interval && !now.Before(*k.LastUsedAt) {
		return
	}
	id := keyRef{k.TenantID, k.ID}
	a.mu.Lock()
	if last, ok := a.touched[id]; ok && now.Sub(last) < a.interval && !now.Before(last) {
		a.mu.Unlock()
		return
	}
	if len(a.touched) >= maxTouchEntries {
		for key, last := range a.touched {
			if now.Sub(last) >= a.interval || now.Before(last) {
				delete(a.touched, key)
			}
		}
	}
	a.touched[id] = now
	a.mu.Unlock()

	if err := a.st.APIKeyTouch(ctx, k.TenantID, k.ID, now); err != nil {
		a.log.WarnContext(ctx, "record api key use", "tenant_id", k.TenantID, "key_id", k.ID, "err", err)
	}
}

// bearer extracts a well-formed secret of kind from an Authorization header.
// Errors name what was expected and never echo the header.
func bearer(authorization, kind, what string) (string, error) {
	authorization = strings.TrimSpace(authorization)
	if authorization == "" {
		return "", unauthorized("missing credentials: send the header Authorization: Bearer %s...", kind)
	}
	scheme, secret, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("malformed Authorization header: expected Bearer %s...", kind)
	}
	secret = strings.TrimSpace(secret)
	if !wellFormed(secret, kind) {
		return "", unauthorized("malformed %s: expected %s followed by %d base32 characters", what, kind, secretBodyLen)
	}
	return secret, nil
}

func sameHash(stored, computed string) bool {
	return subtle.ConstantTimeCompare([]byte(stored), []byte(computed)) == 1
}

func unauthorized(format string, args ...any) *apierror.Error {
	return apierror.New(apierror.CodeUnauthorized, format, args...)
}
