package gate

import (
	"net/http/httptest"
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

// FuzzPathsInfo: any paths-info body is refused or yields 1 to
// maxPathsInfoPaths paths, none of which steps outside the repository.
func FuzzPathsInfo(f *testing.F) {
	f.Add("application/json", `{"paths":["a/b.bin","c"],"expand":true}`)
	f.Add("application/x-www-form-urlencoded", "paths=a%2Fb.bin&paths=c&expand=True")
	f.Add("application/json", `{"paths":["../x"]}`)
	f.Add("", "paths=%2e%2e%2fetc&paths=")
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest("POST", "/api/models/o/m/paths-info/main", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		paths, _, err := parsePathsInfo(r)
		if err != nil {
			return
		}
		if len(paths) == 0 || len(paths) > maxPathsInfoPaths {
			t.Fatalf("%d paths accepted", len(paths))
		}
		for _, p := range paths {
			for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
				if seg == ".." || seg == "." || seg == "" {
					t.Fatalf("path %q accepted", p)
				}
			}
			if strings.ContainsAny(p, "\\\x00") {
				t.Fatalf("path %q accepted", p)
			}
		}
	})
}
