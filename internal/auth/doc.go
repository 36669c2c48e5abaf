// Package auth decides who is calling Phoenix and what they may do.
//
// # Credentials
//
// People and automation use API keys (secret "phx_" + 52 base32 characters);
// agents enrolling into a tenant use enrollment tokens ("phxa_" + 52
// characters). Both carry 256 bits from crypto/rand. The store keeps only the
// SHA-256 hash of a secret and a short, non-secret display prefix, so a
// leaked database does not leak working credentials; the secret itself is
// shown once, when it is created.
//
// A slow password hash (bcrypt, scrypt, Argon2) exists to make guessing
// low-entropy passwords expensive. These secrets are not guessable: finding
// one from its SHA-256 hash means searching 2^256 values, which no amount of
// hashing speed makes feasible. A fast, unsalted hash also lets the store find
// a key by an index on the hash, which a salted KDF would not.
//
// # Timing
//
// [Authenticator] hashes the presented secret and looks the hash up through
// the store's unique index. Any timing difference in that lookup depends on
// the hash, not on the secret, and knowing how many leading bytes of a
// SHA-256 output match tells an attacker nothing about a preimage, so no
// constant-time comparison of secrets is needed. The hash returned by the
// store is still compared with [crypto/subtle.ConstantTimeCompare] as a guard
// against a database collation that would match hashes loosely.
//
// # Caching
//
// With Settings.CacheTTL an Authenticator remembers the keys the store
// resolved, by the SHA-256 of the secret (never the secret), so a key is
// looked up at most once per TTL instead of on every request. Only usable
// keys are remembered, expiry is checked on every request, and a key revoked
// through a store wrapped by [Authenticator.ForgetRevoked] is refused at
// once; revoked elsewhere (another replica), it is refused within the TTL.
//
// # Authorization
//
// [Authorizer] applies role-based access control with casbin. The model and
// policy are embedded in the binary: roles admin, editor and viewer, and the
// resources and actions named by the Resource* and Action* constants.
//
// # First start
//
// [Bootstrap] creates the "default" tenant and its first admin key when the
// store has no tenant at all, so a fresh installation can be used at once.
package auth
