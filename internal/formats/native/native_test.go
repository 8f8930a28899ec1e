package native_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/native"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

// realBinary reads one of the real binaries the Go distribution ships as
// test data for debug/elf, debug/pe and debug/macho (Mach-O ones are
// base64-encoded there).
func realBinary(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "debug", rel))
	if err != nil {
		t.Skipf("Go's debug test data is not available: %v", err)
	}
	if strings.HasSuffix(rel, ".base64") {
		if b, err = base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b))); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func scanBytes(t *testing.T, name string, data []byte) scan.FileResult {
	t.Helper()
	return scan.New().ScanReaderAt(context.Background(), name, bytes.NewReader(data), int64(len(data)), false)
}

func TestRealBinaries(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"elf/testdata/gcc-amd64-linux-exec", "ELF 64-bit x86-64 executable"},
		{"elf/testdata/gcc-riscv64-linux-exec", "ELF 64-bit RISC-V executable"},
		{"elf/testdata/go-relocation-test-clang-arm.obj", "ELF 32-bit ARM relocatable object"},
		{"pe/testdata/gcc-amd64-mingw-exec", "Windows PE32+ x86-64 executable"},
		{"pe/testdata/gcc-386-mingw-exec", "Windows PE32 x86 executable"},
		{"macho/testdata/gcc-amd64-darwin-exec.base64", "Mach-O 64-bit executable"},
		{"macho/testdata/clang-386-darwin.obj.base64", "Mach-O 32-bit object"},
		{"macho/testdata/fat-gcc-386-amd64-darwin-exec.base64", "Mach-O universal binary (2 architectures)"},
	} {
		data := realBinary(t, c.file)
		// Named like a model file: content decides.
		res := scanBytes(t, "pytorch_model.bin", data)
		if res.Format != "native-code" || len(res.Errors) > 0 {
			t.Errorf("%s: format %q, errors %v", c.file, res.Format, res.Errors)
			continue
		}
		var got *finding.Finding
		for i, f := range res.Findings {
			if f.RuleID == knowledge.RuleNativeCode {
				got = &res.Findings[i]
			}
		}
		if got == nil || got.Severity != finding.High || !strings.HasPrefix(got.Message, c.want+":") {
			t.Errorf("%s: %+v, want a high %s naming %q", c.file, got, knowledge.RuleNativeCode, c.want)
		}
	}
}

// An ET_DYN file with a program interpreter is an executable (PIE), one
// without is a library: the real executable with its type changed, then
// with its PT_INTERP header renamed.
func TestPIEAndLibrary(t *testing.T) {
	exe := bytes.Clone(realBinary(t, "elf/testdata/gcc-amd64-linux-exec"))
	binary.LittleEndian.PutUint16(exe[16:], 3) // ET_DYN
	if got := describeOf(t, exe); got != "ELF 64-bit x86-64 executable shared object (PIE)" {
		t.Errorf("PIE: %q", got)
	}
	phoff, phent, phnum := binary.LittleEndian.Uint64(exe[32:]), int(binary.LittleEndian.Uint16(exe[54:])), int(binary.LittleEndian.Uint16(exe[56:]))
	for i := range phnum {
		at := int(phoff) + i*phent
		if binary.LittleEndian.Uint32(exe[at:]) == 3 {
			binary.LittleEndian.PutUint32(exe[at:], 4) // PT_NOTE
		}
	}
	if got := describeOf(t, exe); got != "ELF 64-bit x86-64 shared object" {
		t.Errorf("library: %q", got)
	}
}

// describeOf returns what the scan says the binary is.
func describeOf(t *testing.T, data []byte) string {
	t.Helper()
	for _, f := range scanBytes(t, "x.so", data).Findings {
		if f.RuleID == knowledge.RuleNativeCode {
			what, _, _ := strings.Cut(f.Message, ":")
			return what
		}
	}
	return ""
}

// The same binary inside an archive is found as a member.
func TestBinaryInArchive(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("ops/_custom_ops.so")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(realBinary(t, "elf/testdata/gcc-amd64-linux-exec"))
	zw.Close()
	res := scanBytes(t, "model.zip", buf.Bytes())
	found := false
	for _, f := range res.Findings {
		found = found || f.RuleID == knowledge.RuleNativeCode && strings.Contains(f.Member, "_custom_ops.so")
	}
	if !found {
		t.Errorf("ELF member not reported: %+v", res.Findings)
	}
}

// Look-alikes are not native code: a Java class file (same magic as a fat
// Mach-O), "MZ" text, truncated or implausible headers.
func TestLookAlikes(t *testing.T) {
	elf := realBinary(t, "elf/testdata/gcc-amd64-linux-exec")
	pe := realBinary(t, "pe/testdata/gcc-amd64-mingw-exec")
	badClass := bytes.Clone(elf[:64])
	badClass[4] = 9
	noPE := bytes.Clone(pe[:512])
	copy(noPE[0x80:], "XXXX")
	for name, head := range map[string][]byte{
		"java class":      {0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52, 0, 1, 2, 3},
		"MZ text":         []byte("MZ is how this note starts, and nothing follows that a loader would want"),
		"truncated ELF":   elf[:12],
		"ELF bad class":   badClass,
		"MZ without PE":   noPE,
		"feedfacf header": {0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1},
	} {
		if (native.Analyzer{}).Match("x", head) {
			t.Errorf("%s: matched", name)
		}
	}
}

func FuzzNative(f *testing.F) {
	for _, rel := range []string{"elf/testdata/gcc-amd64-linux-exec", "pe/testdata/gcc-386-mingw-exec", "macho/testdata/fat-gcc-386-amd64-darwin-exec.base64"} {
		b := realBinary(f, rel)
		f.Add(b[:min(len(b), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := native.Analyzer{}
		if !a.Match("x", data) {
			return
		}
		res := scanBytes(t, "x", data)
		if res.Format != "native-code" {
			t.Fatalf("matched but scanned as %q: %v", res.Format, res.Errors)
		}
	})
}
