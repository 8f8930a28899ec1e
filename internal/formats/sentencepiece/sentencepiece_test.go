package sentencepiece_test

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/sentencepiece"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func analyze(t *testing.T, data []byte) (analyzer.Output, error) {
	t.Helper()
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: "tokenizer.model", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
	err := sentencepiece.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	return out, err
}

func severity(out analyzer.Output, rule string) (finding.Severity, bool) {
	for _, f := range out.Findings {
		if f.RuleID == rule {
			return f.Severity, true
		}
	}
	return 0, false
}

// field appends a length-delimited field.
func field(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func piece(s string, typ uint64) []byte {
	var p []byte
	p = field(p, 1, []byte(s))
	p = protowire.AppendTag(p, 2, protowire.Fixed32Type)
	p = protowire.AppendFixed32(p, 0)
	p = protowire.AppendTag(p, 3, protowire.VarintType)
	return protowire.AppendVarint(p, typ)
}

func zipWith(t *testing.T, name string, content []byte) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	z.Close()
	return b.Bytes()
}

func TestMatch(t *testing.T) {
	uni := read(t, "benign/unigram.model")
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"unigram", uni, true},
		{"bpe", read(t, "benign/bpe.model"), true},
		{"truncated: the first pieces decode", read(t, "malformed/truncated.model"), true},
		{"pickle renamed", read(t, "malicious/tokenizer.model"), false},
		{"zip renamed", read(t, "malicious/spiece.model"), false},
		{"plain pickle", read(t, "benign/pickle-sentencepiece.bpe.model"), false},
		{"text starting with newlines", []byte("\n\n\nhello world, this is text\n"), false},
		// A TensorFlow NodeDef is {1: name, 2: op string}: field 2 has
		// the wrong wire type for a piece's score.
		{"graphdef node", field(nil, 1, field(field(nil, 1, []byte("x")), 2, []byte("Const"))), false},
		{"empty piece", field(nil, 1, piece("", 1)), false},
		{"non-UTF-8 piece", field(nil, 1, piece("\xff\xfe", 1)), false},
		{"trainer spec first", field(nil, 2, nil), false},
		{"one piece", field(nil, 1, piece("<unk>", 2)), true},
	}
	for _, tt := range tests {
		head := tt.data[:min(len(tt.data), analyzer.HeadSize)]
		if got := (sentencepiece.Analyzer{}).Match("tokenizer.model", head); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFirstByteIsNoPickleOpcode is why a file Match accepts cannot also be
// read by pickle.load: the loader raises at byte 0.
func TestFirstByteIsNoPickleOpcode(t *testing.T) {
	if pickle.IsOpcode(0x0a) {
		t.Fatal("0x0a is a pickle opcode")
	}
}

func TestBenign(t *testing.T) {
	for _, name := range []string{"benign/unigram.model", "benign/bpe.model"} {
		out, err := analyze(t, read(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(out.Findings) != 1 || out.Findings[0].RuleID != knowledge.RuleFormatSummary {
			t.Fatalf("%s: findings %+v, want only the summary", name, out.Findings)
		}
		msg := out.Findings[0].Message
		for _, want := range []string{"100 pieces", "1 unknown", "user-defined", "vocab_size 100", "charsmap 1034 bytes", "2 self-test samples"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: summary %q lacks %q", name, msg, want)
			}
		}
		if len(out.Nested) != 0 {
			t.Errorf("%s: %d nested inputs", name, len(out.Nested))
		}
	}
}

func TestRules(t *testing.T) {
	uni := read(t, "benign/unigram.model")
	evil := read(t, "malicious/tokenizer.model")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	badUTF8 := field(nil, 1, piece("\xff\xfe", 1))
	twoUnk := cat(field(nil, 1, piece("<unk>", 2)), field(nil, 1, piece("<unk2>", 2)))
	tests := []struct {
		name    string
		data    []byte
		rule    string
		want    finding.Severity // 0 with absent: the rule must not fire
		absent  bool
		wantErr bool
		nested  string // a nested input must start with this
	}{
		{"benign: no anomaly", uni, knowledge.RuleSentencePieceMalformed, 0, true, false, ""},
		{"benign: no unknown field", uni, knowledge.RuleSentencePieceUnknownField, 0, true, false, ""},
		{"benign: nothing embedded", uni, knowledge.RuleSentencePieceEmbedded, 0, true, false, ""},
		{"truncated", read(t, "malformed/truncated.model"), knowledge.RuleSentencePieceMalformed, finding.Medium, false, true, ""},
		{"trailing garbage", read(t, "malformed/trailing-garbage.model"), knowledge.RuleSentencePieceMalformed, finding.Medium, false, true, ""},
		{"pickle appended", cat(uni, evil), knowledge.RuleSentencePieceEmbedded, finding.Medium, false, true, string(evil[:4])},
		{"wrong wire type", cat(uni, protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1)), knowledge.RuleSentencePieceMalformed, finding.Medium, false, false, ""},
		{"non-UTF-8 piece", cat(uni, badUTF8), knowledge.RuleSentencePieceMalformed, finding.Medium, false, false, ""},
		{"two <unk>", twoUnk, knowledge.RuleSentencePieceMalformed, finding.Medium, false, false, ""},
		{"small extension", cat(uni, protowire.AppendVarint(protowire.AppendTag(nil, 300, protowire.VarintType), 7)), knowledge.RuleSentencePieceUnknownField, finding.Low, false, false, ""},
		{"large blob", cat(uni, field(nil, 201, bytes.Repeat([]byte("x"), 2048))), knowledge.RuleSentencePieceUnknownField, finding.Medium, false, false, "xxxx"},
		{"large blob is not embedded", cat(uni, field(nil, 201, bytes.Repeat([]byte("x"), 2048))), knowledge.RuleSentencePieceEmbedded, 0, true, false, ""},
		{"pickle in an extension", read(t, "malicious/embedded-pickle.model"), knowledge.RuleSentencePieceEmbedded, finding.Medium, false, false, string(evil[:4])},
		{"zip in an extension", cat(uni, field(nil, 250, zipWith(t, "data.pkl", evil))), knowledge.RuleSentencePieceEmbedded, finding.Medium, false, false, "PK\x03\x04"},
		{"pickle in a trainer_spec string", cat(uni, field(nil, 2, field(nil, 2, []byte("cposix\nsystem\n(S'touch marker'\ntR.")))), knowledge.RuleSentencePieceEmbedded, finding.Medium, false, false, "cposix"},
	}
	for _, tt := range tests {
		out, err := analyze(t, tt.data)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
		}
		sev, ok := severity(out, tt.rule)
		switch {
		case tt.absent && ok:
			t.Errorf("%s: %s fired: %+v", tt.name, tt.rule, out.Findings)
		case !tt.absent && (!ok || sev != tt.want):
			t.Errorf("%s: %s = %v (present %v), want %v; findings %+v", tt.name, tt.rule, sev, ok, tt.want, out.Findings)
		}
		if tt.nested != "" && !nestedStartsWith(out, tt.nested) {
			t.Errorf("%s: no nested input starting with %q", tt.name, tt.nested)
		}
	}
}

func nestedStartsWith(out analyzer.Output, prefix string) bool {
	for _, n := range out.Nested {
		b := make([]byte, len(prefix))
		if k, _ := n.R.ReadAt(b, 0); k == len(b) && string(b) == prefix {
			return true
		}
	}
	return false
}

// TestManyPiecesAreWalked walks a large vocabulary through the windowed
// reader (50 001 pieces over many windows).
func TestManyPiecesAreWalked(t *testing.T) {
	var b []byte
	b = field(b, 1, piece("<unk>", 2))
	for range 50_000 {
		b = field(b, 1, piece("a", 1))
	}
	out, err := analyze(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Findings[len(out.Findings)-1].Message, "50001 pieces") {
		t.Errorf("findings %+v", out.Findings)
	}
}
