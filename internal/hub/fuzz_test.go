package hub

import (
	"strings"
	"testing"
)

// FuzzParseRef: any string parses or fails cleanly, and a parsed reference
// never names a path outside the repository.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"hf://org/name", "hf://datasets/o/n@refs/pr/1/a/b", "hf://a@%2F/..", "hf://o/n/../x", "hf://o/n@v/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if validRepoID(r.Repo) != nil || r.Revision == "" {
			t.Fatalf("%q parsed to %+v", s, r)
		}
		if strings.HasPrefix(r.Path, "/") || r.Path == ".." || strings.HasPrefix(r.Path, "../") {
			t.Fatalf("%q escapes: %+v", s, r)
		}
		_ = r.String()
	})
}

// FuzzHeaders: the Link and Content-Range parsers never panic.
func FuzzHeaders(f *testing.F) {
	f.Add(`<https://h/x?cursor=a>; rel="next"`)
	f.Add("bytes 0-9/100")
	f.Fuzz(func(t *testing.T, s string) {
		_ = nextLink([]string{s})
		_, _ = contentRangeStart(s)
		_ = retryAfter(s)
		_ = bodyMessage([]byte(s))
	})
}
