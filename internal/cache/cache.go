// Package cache stores verdicts so that re-scanning unchanged files is
// instant. An entry is keyed by the file's content digest and by everything
// that could change the verdict (tool version, policy hash, settings); a
// small index maps a file's identity on disk (absolute path, size,
// modification time) to the digest it had, so an unchanged file is not
// even read again.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Dir is a cache in a directory. The zero value is unusable; use Open.
type Dir struct {
	root string
	salt string
}

// DefaultDir is the cache location when none is given: the user cache
// directory's modelgate folder.
func DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "modelgate"), nil
}

// Open returns the cache in dir (created if needed). salt names everything
// besides the content that decides a verdict: tool version, policy hash,
// scan settings.
func Open(dir, salt string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(dir, "v1"), 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	return &Dir{root: filepath.Join(dir, "v1"), salt: salt}, nil
}

// Identity is how a file on disk is recognised as unchanged.
type Identity struct {
	Path    string // absolute
	Size    int64
	ModTime time.Time
}

// IdentityOf returns the identity of a regular file.
func IdentityOf(path string, st fs.FileInfo) (Identity, bool) {
	abs, err := filepath.Abs(path)
	if err != nil || !st.Mode().IsRegular() {
		return Identity{}, false
	}
	return Identity{Path: abs, Size: st.Size(), ModTime: st.ModTime()}, true
}

func (d *Dir) name(kind, key string) string {
	h := sha256.Sum256([]byte(d.salt + "\x00" + kind + "\x00" + key))
	s := hex.EncodeToString(h[:])
	return filepath.Join(d.root, s[:2], s[2:]+".json")
}

func (id Identity) key() string {
	return fmt.Sprintf("%s\x00%d\x00%d", id.Path, id.Size, id.ModTime.UnixNano())
}

// Digest returns the SHA-256 a file had when it was last scanned, if its
// identity is unchanged.
func (d *Dir) Digest(id Identity) (string, bool) {
	var sum string
	if !d.read(d.name("id", id.key()), &sum) {
		return "", false
	}
	return sum, sum != ""
}

// Get returns the stored result for a digest.
func (d *Dir) Get(digest string, v any) bool {
	return d.read(d.name("sha256", digest), v)
}

// Put stores a result under its digest and remembers the identity's digest.
func (d *Dir) Put(id Identity, digest string, v any) error {
	if err := d.write(d.name("sha256", digest), v); err != nil {
		return err
	}
	return d.write(d.name("id", id.key()), digest)
}

func (d *Dir) read(path string, v any) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// write replaces the entry atomically: concurrent scans never see half an
// entry.
func (d *Dir) write(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
