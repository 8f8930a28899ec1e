package gate

import (
	"strings"
	"testing"
)

// FuzzParseFileRequest: any request path is refused or yields a repository
// id, revision and file path that cannot step outside the repository.
func FuzzParseFileRequest(f *testing.F) {
	for _, s := range []string{"/org/m/resolve/main/a.bin", "/datasets/o/d/resolve/refs%2Fpr%2F1/x/y", "/o/m/resolve/main/..%2f..%2fetc",
		"/spaces/a/resolve/v/%00", "/a/b/c/resolve/x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		fr, ok, err := parseFileRequest(p)
		if err != nil || !ok {
			return
		}
		for _, seg := range strings.Split(fr.ref.Path, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("%q: path %q", p, fr.ref.Path)
			}
		}
		if strings.ContainsAny(fr.ref.Path, "\\\x00") || strings.Contains(fr.ref.Repo, "..") || fr.ref.Revision == "" {
			t.Fatalf("%q: %+v", p, fr)
		}
	})
}
