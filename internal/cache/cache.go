// Package cache stores verdicts so that re-scanning unchanged files is
// instant. An entry is keyed by the file's content digest and by everything
// that could change the verdict (tool version, policy hash, settings); a
// small index maps a file's identity on disk (absolute path, size,
// modification time) to the digest it had, so an unchanged file is not
// even read again.
//
// Some verdicts also depend on other files: a config.json on the custom
// code it names, an ONNX external-data file on the model that references
// it. The index records the identities of those dependencies, a lookup
// re-checks them, and the content entry is then keyed by the digest and the
// dependencies together, so that identical files with different
// neighbours never share a verdict.
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
	"slices"
	"strings"
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
	// v2: index entries carry the dependencies (v1 held a bare digest).
	if err := os.MkdirAll(filepath.Join(dir, "v2"), 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	return &Dir{root: filepath.Join(dir, "v2"), salt: salt}, nil
}

// Identity is how a file on disk is recognised as unchanged. A dependency
// that did not exist has Size -1: it must still not exist.
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

// DependencyOf returns the identity of a file a verdict depends on, as it
// is now; a missing (or unreadable) file gets Size -1.
func DependencyOf(path string) Identity {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	st, err := os.Stat(abs)
	if err != nil || !st.Mode().IsRegular() {
		return Identity{Path: abs, Size: -1}
	}
	return Identity{Path: abs, Size: st.Size(), ModTime: st.ModTime()}
}

func (d *Dir) name(kind, key string) string {
	h := sha256.Sum256([]byte(d.salt + "\x00" + kind + "\x00" + key))
	s := hex.EncodeToString(h[:])
	return filepath.Join(d.root, s[:2], s[2:]+".json")
}

func (id Identity) key() string {
	return fmt.Sprintf("%s\x00%d\x00%d", id.Path, id.Size, id.ModTime.UnixNano())
}

// index is what the cache remembers for a file identity.
type index struct {
	Digest string     `json:"digest"`
	Deps   []Identity `json:"deps,omitempty"`
}

// contentKey keys the stored result: the digest alone, or the digest and
// the dependencies' identities.
func contentKey(digest string, deps []Identity) string {
	if len(deps) == 0 {
		return digest
	}
	keys := make([]string, len(deps))
	for i, dep := range deps {
		keys[i] = dep.key()
	}
	slices.Sort(keys)
	return digest + "\x00" + strings.Join(keys, "\x00")
}

// Lookup fills v with the result stored for a file whose identity, and
// whose dependencies' identities, are unchanged since it was stored.
func (d *Dir) Lookup(id Identity, v any) bool {
	var ix index
	if !d.read(d.name("id", id.key()), &ix) || ix.Digest == "" {
		return false
	}
	for _, dep := range ix.Deps {
		if now := DependencyOf(dep.Path); now.Size != dep.Size || !now.ModTime.Equal(dep.ModTime) {
			return false
		}
	}
	return d.read(d.name("sha256", contentKey(ix.Digest, ix.Deps)), v)
}

// Put stores a result for a file: under its digest (and dependencies), and
// in the index under its identity.
func (d *Dir) Put(id Identity, digest string, deps []Identity, v any) error {
	if err := d.write(d.name("sha256", contentKey(digest, deps)), v); err != nil {
		return err
	}
	return d.write(d.name("id", id.key()), index{Digest: digest, Deps: deps})
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
