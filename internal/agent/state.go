package agent

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files of the state directory.
const (
	instanceUIDFile = "instance_uid"
	lkgFile         = "last-known-good.json"
)

// state is the agent's state directory.
type state struct{ dir string }

// openState creates the directory when missing.
func openState(dir string) (*state, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	return &state{dir: dir}, nil
}

// instanceUID returns the persisted instance UID, creating one (UUIDv7)
// on first use.
func (s *state) instanceUID() ([16]byte, error) {
	path := filepath.Join(s.dir, instanceUIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		uid, perr := parseUUID(strings.TrimSpace(string(b)))
		if perr == nil {
			return uid, nil
		}
		return uid, fmt.Errorf("read instance UID %s: %w", path, perr)
	case !errors.Is(err, fs.ErrNotExist):
		return [16]byte{}, fmt.Errorf("read instance UID: %w", err)
	}
	uid, err := newUUIDv7(time.Now())
	if err != nil {
		return uid, err
	}
	if err := s.setInstanceUID(uid); err != nil {
		return uid, err
	}
	return uid, nil
}

// setInstanceUID persists uid, e.g. one the server assigned.
func (s *state) setInstanceUID(uid [16]byte) error {
	if err := writeAtomic(filepath.Join(s.dir, instanceUIDFile), []byte(formatUUID(uid)+"\n")); err != nil {
		return fmt.Errorf("write instance UID: %w", err)
	}
	return nil
}

// lkgRecord is the on-disk form of the last-known-good configuration.
type lkgRecord struct {
	// Hash is the server's ConfigHash, hex.
	Hash string `json:"hash"`
	// Files maps file name to content.
	Files map[string]string `json:"files"`
	// SavedAt is when the configuration was promoted.
	SavedAt time.Time `json:"saved_at"`
	// Checksum is the hex SHA-256 of Hash and Files (see checksum).
	Checksum string `json:"checksum"`
}

// checksum covers the hash and every file, length-prefixed, names sorted.
func (r *lkgRecord) checksum() string {
	h := sha256.New()
	write := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	write([]byte(r.Hash))
	for _, name := range slices.Sorted(maps.Keys(r.Files)) {
		write([]byte(name))
		write([]byte(r.Files[name]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// saveLKG writes c as the last-known-good configuration atomically.
func (s *state) saveLKG(c *remoteConfig) error {
	r := lkgRecord{Hash: hex.EncodeToString(c.hash), Files: map[string]string{CollectorConfigFile: string(c.collector)}, SavedAt: time.Now().UTC()}
	if c.phoenixRaw != nil {
		r.Files[PhoenixConfigFile] = string(c.phoenixRaw)
	}
	r.Checksum = r.checksum()
	b, err := json.MarshalIndent(&r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode last-known-good: %w", err)
	}
	if err := writeAtomic(filepath.Join(s.dir, lkgFile), append(b, '\n')); err != nil {
		return fmt.Errorf("write last-known-good: %w", err)
	}
	return nil
}

// loadLKG returns the last-known-good configuration, nil when there is
// none. A damaged file is an error; the caller runs without it.
func (s *state) loadLKG() (*remoteConfig, error) {
	path := filepath.Join(s.dir, lkgFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last-known-good: %w", err)
	}
	var r lkgRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode last-known-good %s: %w", path, err)
	}
	if r.Checksum != r.checksum() {
		return nil, fmt.Errorf("last-known-good %s: checksum mismatch", path)
	}
	hash, err := hex.DecodeString(r.Hash)
	if err != nil || len(hash) == 0 {
		return nil, fmt.Errorf("last-known-good %s: invalid hash %q", path, r.Hash)
	}
	col, ok := r.Files[CollectorConfigFile]
	if !ok {
		return nil, fmt.Errorf("last-known-good %s: no %s", path, CollectorConfigFile)
	}
	var phx []byte
	if p, ok := r.Files[PhoenixConfigFile]; ok {
		phx = []byte(p)
	}
	c := newRemoteConfig(hash, []byte(col), phx)
	if c.err != nil {
		return nil, fmt.Errorf("last-known-good %s: %w", path, c.err)
	}
	return c, nil
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, written and fsynced, renamed over path, then the directory
// fsynced so that the rename survives a crash.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	cleanup := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return cleanup(err)
	}
	if _, err := f.Write(data); err != nil {
		return cleanup(err)
	}
	if err := f.Sync(); err != nil {
		return cleanup(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// newUUIDv7 returns a random UUID version 7 (time-ordered), as OpAMP
// recommends for instance UIDs.
func newUUIDv7(now time.Time) ([16]byte, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return u, fmt.Errorf("generate instance UID: %w", err)
	}
	ms := uint64(now.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u, nil
}

// formatUUID renders a UUID in its canonical 8-4-4-4-12 form.
func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// parseUUID reads the canonical form (dashes optional).
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("invalid UUID %q", s)
	}
	copy(u[:], b)
	if bytes.Equal(u[:], make([]byte, 16)) {
		return u, fmt.Errorf("invalid UUID %q: all zero", s)
	}
	return u, nil
}
