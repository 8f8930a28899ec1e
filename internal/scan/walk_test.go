package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/scan"
)

// A dataset-like tree: media and text files that no analyser recognises
// are passed over, but their content is still sniffed, so a pickle named
// like audio is found; an unknown binary with a model-ish name is not
// passed over (the scan is incomplete).
func TestWalkPassesOverDataButSniffsIt(t *testing.T) {
	dir := t.TempDir()
	pkl, err := os.ReadFile("../formats/picklefile/testdata/malicious/01-posix-system-p2.pkl")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"audio/0001.wav":  append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 64)...),
		"images/0001.jpg": {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'},
		"train.jsonl":     []byte(`{"text": "hello"}` + "\n"),
		"audio/0002.wav":  pkl, // a pickle dressed as audio
		"weights.bin":     []byte("not a model format at all"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]scan.FileResult{}
	for _, r := range scan.New().ScanPaths(context.Background(), []string{dir}) {
		rel, _ := filepath.Rel(dir, r.Path)
		got[filepath.ToSlash(rel)] = r
	}
	for _, name := range []string{"audio/0001.wav", "images/0001.jpg", "train.jsonl"} {
		if r, ok := got[name]; ok {
			t.Errorf("%s: not passed over: %+v", name, r)
		}
	}
	if r := got["audio/0002.wav"]; len(r.Findings) == 0 {
		t.Errorf("pickle named .wav: no findings: %+v", r)
	}
	if r := got["weights.bin"]; len(r.Errors) == 0 {
		t.Errorf("unknown .bin: want an incomplete result, got %+v", r)
	}
	for _, name := range []string{"a/b.WAV", "x.mp4", "d.ndjson", "p.webp"} {
		if !scan.Optional(name) {
			t.Errorf("Optional(%q) = false", name)
		}
	}
	for _, name := range []string{"model.bin", "x.pt", "data.parquet", "w.safetensors"} {
		if scan.Optional(name) {
			t.Errorf("Optional(%q) = true", name)
		}
	}
}
