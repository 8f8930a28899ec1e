package pytorch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/pytorch"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
	"github.com/modelgate/modelgate/internal/scan"
)

// storagePID is ("storage", torch.FloatStorage, "0", "cpu", 4) as
// torch.save writes it (protocol 2), followed by BINPERSID.
const storagePID = "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"

// TestWeightsOnlyRules runs crafted data.pkl streams through the emulation
// of torch 1.13's weights-only unpickler: each rule of
// torch/_weights_only_unpickler.py, accepted and refused.
func TestWeightsOnlyRules(t *testing.T) {
	tests := []struct {
		name     string
		pkl      string
		accept   bool
		evidence string // substring of the torch error we report
		pos      int64
	}{
		{"empty dict", "\x80\x02}q\x00.", true, "", 0},
		{"bytes after STOP are not read", "N.cos\nsystem\n", true, "", 0},
		{"dangerous global", "\x80\x02cos\nsystem\nX\x02\x00\x00\x00idR.", false, "Unsupported class os.system", 2},
		{"fix_imports is not applied", "\x80\x02c__builtin__\nset\n]R.", false, "Unsupported class __builtin__.set", 2},
		{"GLOBAL line cut at EOF drops its last byte", "ctorch\nSize", false, "Unsupported class torch.Siz", 0},
		{"protocol 4 FRAME", "\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}.", false, "Unsupported operand 149", 2},
		{"float", "}X\x01\x00\x00\x00aG?\xe0\x00\x00\x00\x00\x00\x00s.", false, "Unsupported operand 71", 7},
		{"protocol 0 INT", "I1\n.", false, "Unsupported operand 73", 0},
		{"POP", "NN0.", false, "Unsupported operand 48", 2},
		{"OrderedDict with state", "ccollections\nOrderedDict\n)R}b.", true, "", 0},
		{"BUILD on a dict", "}}b.", false, "Can only build Tensor, parameter or dict objects, but got <class 'dict'>", 2},
		{"BUILD on torch.Size", "ctorch\nSize\n)R}b.", false, "but got <class 'torch.Size'>", 15},
		{"REDUCE of a dtype", "ctorch\nfloat32\n)R.", false, "not callable", 16},
		{"REDUCE of a non-global", "})R.", false, "Trying to call reduce for unrecognized function", 2},
		{"NEWOBJ Parameter", "ctorch.nn.parameter\nParameter\n)\x81.", true, "", 0},
		{"NEWOBJ of another allowlisted class", "ctorch\nSize\n)\x81.", false, "Trying to instantiate unsupported class", 13},
		{"APPEND to a list", "]Ka.", true, "", 0},
		{"APPENDS to a list", "](K\x01K\x02e.", true, "", 0},
		{"APPEND to a dict", "}K\x01a.", false, "Can only append to lists, but got <class 'dict'>", 3},
		{"APPENDS to a tuple", ")(K\x01e.", false, "Can only append to lists, but got <class 'tuple'>", 4},
		{"SETITEM on a tuple", ")K\x01K\x02s.", false, "does not support item assignment", 5},
		{"empty SETITEMS touches nothing", ")(u.", true, "", 0},
		{"SETITEMS with a list key", "}(]K\x01u.", false, "unhashable", 5},
		{"SETITEMS with a tuple key", "}(K\x01\x85K\x01u.", true, "", 0},
		{"odd SETITEMS", "}(K\x01u.", false, "IndexError", 4},
		{"memo", "]q\x01h\x01.", true, "", 0},
		{"memo miss", "h\x05.", false, "KeyError: 5", 0},
		{"BINPUT on an empty stack", "q\x01N.", false, "IndexError", 0},
		{"MARK hides the stack from TUPLE2", "K\x01(K\x02\x86.", false, "IndexError", 5},
		{"TUPLE without MARK", "t.", false, "pop from empty list", 0},
		{"STOP on an empty stack", ".", false, "IndexError", 0},
		{"EOF before STOP", "}", false, "EOFError", 1},
		{"truncated string", "X\x10\x00\x00\x00ab", false, "truncated", 0},
		{"storage persistent id", storagePID + ".", true, "", 0},
		{"UntypedStorage persistent id", "(X\x07\x00\x00\x00storagectorch.storage\nUntypedStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ.", true, "", 0},
		{"TypedStorage has no dtype", "(X\x07\x00\x00\x00storagectorch.storage\nTypedStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ.", false, "has no attribute 'dtype'", 58},
		{"int persistent id (1.13's inverted check)", "K\x01Q.", false, "persistent_load id must be tuple or int, but got <class 'int'>", 2},
		{"str persistent id", "X\x01\x00\x00\x00aQ.", false, "AssertionError", 6},
		{"module persistent id", "(X\x06\x00\x00\x00moduleNNNtQ.", false, "Only persistent_load of storage is allowed", 16},
		{"short persistent id", "(X\x07\x00\x00\x00storagetQ.", false, "ValueError", 14},
		{"SHORT_BINSTRING storage id", "(U\x07storagectorch\nFloatStorage\nU\x010U\x03cpuK\x04tQ.", true, "", 0},
		{"BINUNICODE allows surrogates", "X\x03\x00\x00\x00\xed\xa0\x80.", true, "", 0},
		{"SHORT_BINSTRING is strict UTF-8", "U\x03\xed\xa0\x80.", false, "codec can't decode", 0},
		{"invalid UTF-8", "X\x02\x00\x00\x00\xff\xfe.", false, "codec can't decode", 0},
		{"LONG1", "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", true, "", 0},
		{"not an opcode", "\xff.", false, "Unsupported operand 255", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(tt.pkl)
			v := pytorch.WeightsOnlyZip(r, int64(len(tt.pkl)), pickle.Limits{})
			if v.Limited {
				t.Fatalf("no verdict: %s", v.Reason)
			}
			if v.Accept != tt.accept {
				t.Fatalf("accept = %v, want %v (%s; %s)", v.Accept, tt.accept, v.Reason, v.TorchError)
			}
			if tt.accept {
				return
			}
			if !strings.Contains(v.TorchError, tt.evidence) {
				t.Errorf("torch error %q, want it to contain %q", v.TorchError, tt.evidence)
			}
			if v.Pos != tt.pos {
				t.Errorf("offset %d, want %d (%s)", v.Pos, tt.pos, v.Reason)
			}
		})
	}
}

// legacyFile builds the five pickles of a legacy file with the given
// middle parts.
func legacyFile(magic, proto, sysInfo, obj, keys string) []byte {
	return []byte(magic + proto + sysInfo + obj + keys + "raw storage bytes, never read")
}

const (
	legacyMagicPickle = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
	legacyProto       = "\x80\x02M\xe9\x03."
	legacySysInfo     = "\x80\x02}q\x00(X\x0d\x00\x00\x00little_endianq\x01\x88u."
	legacyKeys        = "\x80\x02]q\x00X\x01\x00\x00\x000q\x01a."
)

func TestWeightsOnlyLegacy(t *testing.T) {
	legacyStorage := "\x80\x02}(X\x01\x00\x00\x00w(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04NtQu."
	tests := []struct {
		name     string
		data     []byte
		accept   bool
		evidence string
	}{
		{"state dict", legacyFile(legacyMagicPickle, legacyProto, legacySysInfo, legacyStorage, legacyKeys), true, ""},
		{"wrong magic", legacyFile("\x80\x02K\x01.", legacyProto, legacySysInfo, legacyStorage, legacyKeys), false, "Invalid magic number"},
		{"wrong protocol", legacyFile(legacyMagicPickle, "\x80\x02M\xea\x03.", legacySysInfo, legacyStorage, legacyKeys), false, "Invalid protocol version"},
		{"zip-style persistent id", legacyFile(legacyMagicPickle, legacyProto, legacySysInfo, storagePID+".", legacyKeys), false, "ValueError"},
		{"persistent id outside the object pickle", legacyFile(legacyMagicPickle, legacyProto, "\x80\x02"+storagePID+".", legacyStorage, legacyKeys), false, "unsupported persistent id encountered"},
		{"payload in the storage keys", legacyFile(legacyMagicPickle, legacyProto, legacySysInfo, legacyStorage, "\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idR."), false, "Unsupported class posix.system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := pytorch.WeightsOnlyLegacy(bytes.NewReader(tt.data), int64(len(tt.data)), pickle.Limits{})
			if v.Accept != tt.accept || v.Limited {
				t.Fatalf("accept = %v (limited %v), want %v (%s; %s)", v.Accept, v.Limited, tt.accept, v.Reason, v.TorchError)
			}
			if !tt.accept && !strings.Contains(v.TorchError, tt.evidence) {
				t.Errorf("torch error %q, want it to contain %q", v.TorchError, tt.evidence)
			}
		})
	}
}

func TestWeightsOnlyLimits(t *testing.T) {
	pkl := strings.Repeat("N", 100) + "."
	v := pytorch.WeightsOnlyZip(strings.NewReader(pkl), int64(len(pkl)), pickle.Limits{MaxOpcodes: 10, MaxStack: 1000, MaxMarks: 10, MaxMemo: 10, MaxLine: 10})
	if !v.Limited || v.Accept {
		t.Fatalf("verdict %+v, want no verdict (limit)", v)
	}
	if f := pytorch.WeightsOnlyFinding(v, "archive/data.pkl"); !strings.Contains(f.Message, "no verdict") {
		t.Errorf("message %q", f.Message)
	}
}

// manifestEntry is what the fixture script recorded, including the real
// torch.load(weights_only=True) outcome.
type manifestEntry struct {
	File        string `json:"file"`
	Format      string `json:"format"`
	WeightsOnly *struct {
		Result string `json:"result"`
		Error  string `json:"error"`
		JIT    bool   `json:"jit"`
		Marker bool   `json:"marker"`
	} `json:"weights_only"`
}

// TestWeightsOnlyFixtures compares the scanner's verdict with what the
// real torch.load(weights_only=True) (torch 1.13.1) did with every fixture,
// as recorded by make_fixtures.py: accepted files are accepted, refused
// ones are refused for the same global or opcode, TorchScript archives are
// reported as handed to torch.jit.load.
func TestWeightsOnlyFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []manifestEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range entries {
		t.Run(e.File, func(t *testing.T) {
			wo := e.WeightsOnly
			if wo == nil {
				t.Fatal("manifest has no weights_only record (run make_fixtures.py)")
			}
			res := scan.New().ScanPaths(context.Background(), []string{filepath.Join("testdata", e.File)})
			var got []finding.Finding
			for _, f := range res[0].Findings {
				if f.RuleID == knowledge.RuleTorchWeightsOnly {
					if f.Severity != finding.Info {
						t.Errorf("severity %s, want info", f.Severity)
					}
					got = append(got, f)
				}
			}
			verdicts := func(word string) (n int) {
				for _, f := range got {
					if strings.Contains(f.Message, word) {
						n++
					}
				}
				return n
			}
			switch {
			case e.Format == "pytorch-tar":
				// Not modelled: the tar branch interleaves pickles with
				// raw data in three members.
				if len(got) != 0 {
					t.Errorf("tar file got a verdict: %v", got)
				}
				counts["tar (not modelled)"]++
			case wo.JIT:
				if len(got) != 1 || verdicts("torch.jit.load") != 1 {
					t.Errorf("torch.load handed it to torch.jit.load; got %v", got)
				}
				counts["jit"]++
			case wo.Result == "accept":
				if len(got) != 1 || verdicts("would accept") != 1 {
					t.Errorf("torch accepted it; got %v", got)
				}
				counts["accept"]++
			case strings.HasPrefix(wo.Error, "Unsupported class ") || strings.HasPrefix(wo.Error, "Unsupported operand "):
				if len(got) == 0 {
					t.Fatalf("torch refused it (%s); no verdict", wo.Error)
				}
				for _, f := range got {
					if !strings.Contains(f.Message, "would reject") || f.Evidence != wo.Error {
						t.Errorf("torch refused it with %q; got %q (%s)", wo.Error, f.Message, f.Evidence)
					}
					if !strings.Contains(f.Message, pytorch.WeightsOnlyRules) || f.Offset < 0 {
						t.Errorf("message %q offset %d: want the rules named and an offset", f.Message, f.Offset)
					}
				}
				counts["reject"]++
			default:
				// torch's zip reader refused the record before unpickling
				// (flag bits): the member is not judged, and never accepted.
				if verdicts("would accept") != 0 {
					t.Errorf("torch refused it (%s); got %v", wo.Error, got)
				}
				counts["reader error"]++
			}
		})
	}
	if counts["accept"] < 5 || counts["reject"] < 10 || counts["jit"] < 3 {
		t.Errorf("fixture coverage too thin: %v", counts)
	}
}

// FuzzWeightsOnly: the emulation never panics and always ends in a
// verdict or a limit, on any bytes, as data.pkl or as a legacy file.
func FuzzWeightsOnly(f *testing.F) {
	for _, s := range []string{storagePID + ".", "\x80\x02}q\x00.", "ccollections\nOrderedDict\n)R}b.", "](K\x01K\x02e.",
		"X\x03\x00\x00\x00\xed\xa0\x80.", "\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}."} {
		f.Add([]byte(s))
	}
	f.Add(legacyFile(legacyMagicPickle, legacyProto, legacySysInfo, "\x80\x02}.", legacyKeys))
	files, _ := filepath.Glob("testdata/benign/*-legacy.pt")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	lim := pickle.DefaultLimits()
	lim.MaxOpcodes, lim.MaxLine = 100_000, 1<<16
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []pytorch.WeightsOnly{
			pytorch.WeightsOnlyZip(bytes.NewReader(b), int64(len(b)), lim),
			pytorch.WeightsOnlyLegacy(bytes.NewReader(b), int64(len(b)), lim),
		} {
			if !v.Accept && v.Reason == "" {
				t.Fatalf("a refusal without a reason: %+v", v)
			}
		}
	})
}

// TestWeightsOnlySharedTuples: tuples that share items through the memo
// are walked once each (a key check must not be exponential).
func TestWeightsOnlySharedTuples(t *testing.T) {
	var b strings.Builder
	b.WriteString("}(K\x01q\x00")
	for range 200 {
		b.WriteString("h\x00h\x00\x86q\x00") // x = (x, x)
	}
	b.WriteString("K\x01u.")
	pkl := b.String()
	if v := pytorch.WeightsOnlyZip(strings.NewReader(pkl), int64(len(pkl)), pickle.Limits{}); !v.Accept {
		t.Fatalf("verdict %+v", v)
	}
}
