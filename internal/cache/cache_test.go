package cache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLookupChecksIdentityAndDependencies(t *testing.T) {
	c, err := Open(t.TempDir(), "salt")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file, dep := filepath.Join(dir, "model.onnx_data"), filepath.Join(dir, "model.onnx")
	for _, p := range []string{file, dep} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	identity := func() Identity {
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		id, ok := IdentityOf(file, st)
		if !ok {
			t.Fatal("not cacheable")
		}
		return id
	}
	missing := DependencyOf(filepath.Join(dir, "modeling_x.py"))
	if missing.Size != -1 {
		t.Fatalf("missing dependency: %+v", missing)
	}
	id := identity()
	if err := c.Put(id, "digest-1", []Identity{DependencyOf(dep), missing}, "verdict-1"); err != nil {
		t.Fatal(err)
	}
	var got string
	if !c.Lookup(id, &got) || got != "verdict-1" {
		t.Fatalf("unchanged: %q", got)
	}
	// The same content elsewhere, with no dependencies, has its own entry.
	other := Identity{Path: "/elsewhere", Size: id.Size, ModTime: id.ModTime}
	if err := c.Put(other, "digest-1", nil, "verdict-2"); err != nil {
		t.Fatal(err)
	}
	if got = ""; !c.Lookup(id, &got) || got != "verdict-1" {
		t.Errorf("an identical file with other neighbours changed the verdict: %q", got)
	}
	// A dependency that changes, or one that appears, invalidates.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(dep, later, later); err != nil {
		t.Fatal(err)
	}
	if c.Lookup(id, &got) {
		t.Error("hit after the referencing model changed")
	}
	if err := c.Put(id, "digest-1", []Identity{DependencyOf(dep), missing}, "verdict-3"); err != nil {
		t.Fatal(err)
	}
	if !c.Lookup(id, &got) || got != "verdict-3" {
		t.Fatalf("re-stored: %q", got)
	}
	if err := os.WriteFile(missing.Path, []byte("import os"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c.Lookup(id, &got) {
		t.Error("hit after a missing dependency appeared")
	}
	// The file itself changing is a miss, as before.
	if err := os.Remove(missing.Path); err != nil {
		t.Fatal(err)
	}
	if !c.Lookup(id, &got) {
		t.Fatal("miss with everything as stored")
	}
	if err := os.WriteFile(file, []byte("changed content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c.Lookup(identity(), &got) {
		t.Error("hit for a changed file")
	}
}
