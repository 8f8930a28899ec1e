package hub

import "testing"

func TestParseRef(t *testing.T) {
	cases := []struct {
		in   string
		want Ref
	}{
		{"hf://org/name", Ref{Type: Model, Repo: "org/name", Revision: "main"}},
		{"hf://gpt2", Ref{Type: Model, Repo: "gpt2", Revision: "main"}},
		{"hf://org/name@v1.0", Ref{Type: Model, Repo: "org/name", Revision: "v1.0"}},
		{"hf://org/name@0123456789abcdef0123456789abcdef01234567/sub/model.bin",
			Ref{Type: Model, Repo: "org/name", Revision: "0123456789abcdef0123456789abcdef01234567", Path: "sub/model.bin"}},
		{"hf://org/name/sub/x.pt", Ref{Type: Model, Repo: "org/name", Revision: "main", Path: "sub/x.pt"}},
		{"hf://datasets/org/data@dev", Ref{Type: Dataset, Repo: "org/data", Revision: "dev"}},
		{"hf://spaces/org/app", Ref{Type: Space, Repo: "org/app", Revision: "main"}},
		{"hf://models/org/name", Ref{Type: Model, Repo: "org/name", Revision: "main"}},
		{"hf://org/name@refs/pr/3/a.bin", Ref{Type: Model, Repo: "org/name", Revision: "refs/pr/3", Path: "a.bin"}},
		{"hf://org/name@refs%2Fpr%2F3", Ref{Type: Model, Repo: "org/name", Revision: "refs/pr/3"}},
		{"hf://org/name@feature%2Fx/a.bin", Ref{Type: Model, Repo: "org/name", Revision: "feature/x", Path: "a.bin"}},
	}
	for _, c := range cases {
		got, err := ParseRef(c.in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseRefRejects(t *testing.T) {
	for _, in := range []string{
		"org/name", "hf://", "hf://a/b/../../etc", "hf://org--x/name", "hf://-org/name", "hf://org/na me",
		"hf://org/name@", "hf://org/name/../../x", "hf://org/name@main/../../x", "hf://a..b/c",
	} {
		if r, err := ParseRef(in); err == nil {
			t.Errorf("ParseRef(%q) = %+v, want an error", in, r)
		}
	}
}

func TestRefString(t *testing.T) {
	for in, want := range map[string]string{
		"hf://org/name":                 "hf://org/name",
		"hf://org/name@dev":             "hf://org/name@dev",
		"hf://datasets/org/d@v2/a/b.pt": "hf://datasets/org/d@v2/a/b.pt",
		"hf://org/name@feature%2Fx":     "hf://org/name@feature%2Fx",
	} {
		r, err := ParseRef(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.String(); got != want {
			t.Errorf("%q: String() = %q, want %q", in, got, want)
		}
	}
}

func TestNextLink(t *testing.T) {
	got := nextLink([]string{`<https://hub/api/models/a/b/tree/main?cursor=xyz>; rel="next", <https://hub/x>; rel="prev"`})
	if got != "https://hub/api/models/a/b/tree/main?cursor=xyz" {
		t.Errorf("nextLink = %q", got)
	}
	if got := nextLink([]string{`<https://hub/x>; rel="prev"`}); got != "" {
		t.Errorf("nextLink without next = %q", got)
	}
}
