// Package ziparchive analyses zip files: PyTorch torch.save archives,
// TorchScript archives, NumPy .npz files and any other zip. The directory is
// read with the tolerant reader (internal/formats/zipfile); every member that
// can carry code goes back to the engine as a nested input, sniffed by
// content whatever its name; tensor storages are never read beyond a
// 4 KiB sniff.
package ziparchive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/keras"
	"github.com/modelgate/modelgate/internal/formats/pytorch"
	"github.com/modelgate/modelgate/internal/formats/zipfile"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// maxCRCCheck is the largest stored pickle member whose CRC is verified
// (the member is read once more for it).
const maxCRCCheck = 64 << 20

// Analyzer handles every zip.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "zip" }

// Match implements analyzer.Analyzer.
func (Analyzer) Match(_ string, head []byte) bool { return zipfile.IsZip(head) }

var anomalyRules = map[zipfile.AnomalyKind]struct {
	id  string
	sev finding.Severity
}{
	zipfile.DuplicateName:  {knowledge.RuleZipDuplicateName, finding.Medium},
	zipfile.NameMismatch:   {knowledge.RuleZipNameMismatch, finding.Medium},
	zipfile.SizeMismatch:   {knowledge.RuleZipHeaderMismatch, finding.Medium},
	zipfile.OddFlags:       {knowledge.RuleZipFlags, finding.Medium},
	zipfile.Overlap:        {knowledge.RuleZipOverlap, finding.Medium},
	zipfile.PrefixData:     {knowledge.RuleZipPrefixData, finding.Medium},
	zipfile.NoCentralDir:   {knowledge.RuleZipNoCentralDir, finding.Medium},
	zipfile.BadLocalHeader: {knowledge.RuleZipBadLocal, finding.Medium},
	zipfile.UnusualMethod:  {knowledge.RuleZipMethod, finding.Low},
}

// Analyze reads the directory and hands members back as nested inputs.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	arc, err := zipfile.Read(in.R, in.Size, lim.MaxMembers)
	if arc == nil || (err != nil && len(arc.Entries) == 0) {
		return fmt.Errorf("zip: %w", err)
	}
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("zip: %w (members found before it were analysed)", err))
	}
	for _, an := range arc.Anomalies {
		r := anomalyRules[an.Kind]
		out.Add(finding.Finding{RuleID: r.id, Severity: r.sev, Message: an.Detail, Member: an.Entry, Offset: an.Offset})
	}
	names := make([]string, len(arc.Entries))
	for i, e := range arc.Entries {
		names[i] = e.Name
	}
	z := &zipRun{arc: arc, in: in, lim: lim, out: out}
	layout, isTorch := pytorch.DetectZip(names)
	isKeras := keras.IsArchive(names)
	switch {
	case isTorch:
		out.Format = layout.Format
		errs = append(errs, z.torch(layout, names)...)
	case isKeras:
		// Keras v3: every member (weights .h5/.npz, assets) goes to the
		// engine; config.json and metadata.json are checked below.
		out.Format = "keras"
		errs = append(errs, z.all()...)
	case isNPZ(names):
		out.Format = "npz"
		errs = append(errs, z.all()...)
	default:
		errs = append(errs, z.all()...)
	}
	// keras.models.load_model reads config.json from any zip it is given,
	// so a Keras config is checked whatever else the archive looks like.
	errs = append(errs, z.keras(isKeras)...)
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: z.summary(out.Format, layout)})
	return errors.Join(errs...)
}

// isNPZ: np.savez writes a flat archive of NAME.npy members; NpzFile
// parses any member that starts with the .npy magic, whatever its name, so
// one .npy member in a flat archive is enough to call it npz.
func isNPZ(names []string) bool {
	npy := false
	for _, n := range names {
		if strings.Contains(n, "/") {
			return false
		}
		npy = npy || strings.HasSuffix(strings.ToLower(n), ".npy")
	}
	return npy
}

type zipRun struct {
	arc      *zipfile.Archive
	in       analyzer.Input
	lim      analyzer.Limits
	out      *analyzer.Output
	members  int
	storages int
	skipped  int64 // bytes of storage members not read
	code     int
	version  string
	budgetUp bool
}

// take draws a member from the file's budget.
func (z *zipRun) take() bool {
	if z.budgetUp {
		return false
	}
	if !z.in.Budget.TakeMember() {
		z.budgetUp = true
		z.out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset,
			Message: fmt.Sprintf("more than %d archive members in this file; the rest were not analysed", z.lim.MaxMembers)})
		return false
	}
	z.members++
	return true
}

// all hands every member to the engine.
func (z *zipRun) all() []error {
	var errs []error
	for _, e := range z.arc.Entries {
		if strings.HasSuffix(e.Name, "/") {
			continue
		}
		if !z.take() {
			errs = append(errs, errors.New("member budget spent: remaining members not analysed"))
			break
		}
		if err := z.nested(e, false, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// keras hands root config.json and metadata.json members (every copy) to
// the Keras checker; outside a Keras archive only a config.json that is a
// Keras model config is reported on.
func (z *zipRun) keras(isKeras bool) []error {
	var errs []error
	for _, e := range z.arc.Entries {
		if !keras.IsArchiveConfig(e.Name) || !isKeras && e.Name != "config.json" {
			continue
		}
		rc, err := z.arc.Open(e)
		if err == nil {
			var data []byte
			data, err = io.ReadAll(io.LimitReader(rc, keras.MaxConfig+1))
			if err == nil {
				err = keras.CheckArchiveMember(e.Name, data, isKeras, z.out)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("member %q: %w", e.Name, err))
		}
	}
	return errs
}

// torch applies PyTorch's member roles.
func (z *zipRun) torch(l pytorch.ZipLayout, names []string) []error {
	var errs []error
	// torch.load(weights_only=True) judges data.pkl, unless the archive
	// goes to torch.jit.load instead.
	jit := l.RoutesToJIT(names)
	if jit {
		z.out.Add(pytorch.WeightsOnlyTorchScript())
	}
	var verdicts []pytorch.MemberVerdict
	for _, e := range z.arc.Entries {
		if strings.HasSuffix(e.Name, "/") {
			continue
		}
		if !z.take() {
			errs = append(errs, errors.New("member budget spent: remaining members not analysed"))
			break
		}
		switch l.Role(e.Name) {
		case pytorch.RoleStorage:
			z.storages++
			z.skipped += int64(e.CompressedSize)
			if err := z.sniffStorage(e); err != nil {
				errs = append(errs, err)
			}
		case pytorch.RoleMetadata:
			if strings.HasSuffix(e.Name, "/version") && !strings.Contains(e.Name, ".data/") {
				z.version = z.small(e)
			}
		case pytorch.RoleCode:
			z.code++
			z.torchScript(e)
		case pytorch.RoleOutside:
			z.out.Add(finding.Finding{RuleID: knowledge.RuleTorchOutside, Severity: finding.Medium, Member: e.Name, Offset: finding.NoOffset,
				Message: fmt.Sprintf("member %q is outside %q, the folder torch.load reads", e.Name, l.Top+"/")})
			if err := z.nested(e, false, nil); err != nil {
				errs = append(errs, err)
			}
		case pytorch.RolePickle:
			var judge func(io.ReaderAt, int64)
			if !jit && l.IsDataPickle(e.Name) {
				judge = func(r io.ReaderAt, size int64) {
					verdicts = append(verdicts, pytorch.MemberVerdict{Member: e.Name, WeightsOnly: pytorch.WeightsOnlyZip(r, size, z.lim.Pickle)})
				}
			}
			if err := z.nested(e, true, judge); err != nil {
				errs = append(errs, err)
			}
		default:
			if err := z.nested(e, false, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if f, ok := pytorch.WeightsOnlyArchiveFinding(verdicts); ok {
		z.out.Add(f)
	}
	if z.code > 0 {
		z.out.Add(finding.Finding{RuleID: knowledge.RuleTorchScriptCode, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%d TorchScript code files (compiled by torch.jit.load; not analysed as Python)", z.code)})
	}
	return errs
}

// nested hands a member to the engine: stored members as a window on the
// file (no copy), compressed ones decompressed within budget. judge, if
// set, also sees the member's content (the weights-only verdict on
// data.pkl).
func (z *zipRun) nested(e *zipfile.Entry, expectPickle bool, judge func(io.ReaderAt, int64)) error {
	if e.Err != nil {
		return e.Err
	}
	if e.Method == zipfile.Store {
		raw, _ := z.arc.Raw(e)
		if expectPickle && e.CompressedSize <= maxCRCCheck {
			if ok, err := z.arc.CheckCRC(e); err == nil && !ok {
				z.out.Add(finding.Finding{RuleID: knowledge.RuleZipCRC, Severity: finding.Medium, Member: e.Name, Offset: finding.NoOffset,
					Message: fmt.Sprintf("stored member %q does not match its CRC-32 %08x", e.Name, e.CRC32)})
			}
		}
		if judge != nil {
			judge(raw, raw.Size())
		}
		z.out.Nested = append(z.out.Nested, analyzer.Nested{Name: e.Name, R: raw, Size: raw.Size()})
		return nil
	}
	rc, err := z.arc.Open(e)
	if err != nil {
		return err
	}
	b := analyzer.ReadBounded(rc, int64(e.CompressedSize), z.lim, z.in.Budget)
	if judge != nil && b.Nested.R != nil && b.Capped == "" && b.Err == nil {
		judge(b.Nested.R, b.Nested.Size)
	}
	return b.Finish(z.out, e.Name, e.Name, fmt.Sprintf("member %q", e.Name))
}

// sniffStorage reads the first bytes of a tensor storage: raw numbers, unless
// someone hid a pickle there.
func (z *zipRun) sniffStorage(e *zipfile.Entry) error {
	if e.Err != nil {
		return e.Err
	}
	rc, err := z.arc.Open(e)
	if err != nil {
		return nil // an unusual method is already reported; torch cannot read it either
	}
	head := make([]byte, pickle.SniffSize)
	n, _ := io.ReadFull(rc, head)
	if !pickle.SniffStrict(head[:n]) {
		return nil
	}
	z.out.Add(finding.Finding{RuleID: knowledge.RuleTorchPickleStorage, Severity: finding.Medium, Member: e.Name, Offset: finding.NoOffset,
		Message: fmt.Sprintf("storage member %q holds a pickle; it was analysed", e.Name)})
	return z.nested(e, false, nil)
}

// maxCodeMember bounds how much of one TorchScript source file is read.
const maxCodeMember = 1 << 20

// torchScript looks for __setstate__ in TorchScript source: the only
// TorchScript code that runs during loading.
func (z *zipRun) torchScript(e *zipfile.Entry) {
	rc, err := z.arc.Open(e)
	if err != nil {
		return
	}
	src, _ := io.ReadAll(io.LimitReader(rc, maxCodeMember))
	text := string(src)
	i := strings.Index(text, "def __setstate__(")
	if i < 0 {
		return
	}
	line := 1 + strings.Count(text[:i], "\n")
	body := text[i:min(len(text), i+400)]
	if j := strings.Index(body[1:], "\n  def "); j >= 0 {
		body = body[:j+1]
	}
	z.out.Add(finding.Finding{RuleID: knowledge.RuleTorchScriptSetstate, Severity: finding.High, Member: e.Name, Offset: finding.NoOffset,
		Message:  fmt.Sprintf("TorchScript __setstate__ at line %d runs while the archive is loaded", line),
		Evidence: strings.Join(strings.Fields(body), " ")})
}

// small reads a short metadata member (a version number).
func (z *zipRun) small(e *zipfile.Entry) string {
	rc, err := z.arc.Open(e)
	if err != nil {
		return ""
	}
	b := make([]byte, 32)
	n, _ := io.ReadFull(rc, b)
	return strings.TrimSpace(string(b[:n]))
}

func (z *zipRun) summary(format string, l pytorch.ZipLayout) string {
	switch format {
	case "pytorch-zip", "torchscript":
		s := fmt.Sprintf("%s archive, folder %q, %d members: %d tensor storages (%d bytes, not read)", format, l.Top, z.members, z.storages, z.skipped)
		if z.version != "" {
			s += ", format version " + z.version
		}
		return s
	case "npz":
		return fmt.Sprintf("NumPy npz archive, %d arrays", z.members)
	case "keras":
		return fmt.Sprintf("Keras v3 archive, %d members", z.members)
	}
	return fmt.Sprintf("zip archive, %d members", z.members)
}
