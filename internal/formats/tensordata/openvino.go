package tensordata

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Budgets of the IR walk. Real IR files are a few KiB to tens of MiB (a
// 70B-parameter LLM's is about 20 MiB); the token and depth caps bound a
// hostile file that stays under the size cap. encoding/xml expands no
// entities beyond the five predefined ones and never fetches a DTD.
const (
	maxXML       = 128 << 20
	maxXMLTokens = 50_000_000
	// maxXMLDepth is far above real IRs: TensorIterator, Loop and If bodies
	// nest a <body><layers> per level.
	maxXMLDepth = 512
)

// checkOpenVINO confirms that X.xml is an OpenVINO IR (root element <net>,
// which OpenVINO's reader requires) and checks that every Const layer's
// <data offset size> lies inside the .bin: read_model(X.xml) maps X.bin
// and copies each constant from [offset, offset+size), and refuses a range
// past its end (Constant-1 spec:
// https://docs.openvino.ai/2024/documentation/openvino-ir-format/operation-sets/operation-specs/infrastructure/constant-1.html).
// The .bin is named by convention only, so the IR references it by being
// there; a net with no Const layer still does (the reader opens the .bin).
func checkOpenVINO(ctx context.Context, name string, size int64, sib sibling, _ opener) (claim, bool, string) {
	if sib.size > maxXML {
		return claim{}, false, fmt.Sprintf("%s is %d bytes, more than an OpenVINO IR is read (%d)", sib.name, sib.size, maxXML)
	}
	w := irWalk{name: name, size: size, sib: sib.name}
	if err := w.walk(ctx, io.NewSectionReader(sib.r, 0, sib.size)); err != nil {
		return claim{}, false, fmt.Sprintf("%s is not an OpenVINO IR (%v)", sib.name, err)
	}
	what := "OpenVINO IR weights"
	if w.version != "" {
		what = fmt.Sprintf("OpenVINO IR v%s weights", clip(w.version))
	}
	detail := fmt.Sprintf("%s, %d of the file's %d bytes referenced", count(w.consts, "Const layer"), coverage(w.spans, size), size)
	return claim{sibling: sib.name, what: what, detail: detail, issues: w.issues.findings("Const layers")}, true, ""
}

// irWalk streams an IR's XML, keeping only counts and the Const ranges.
type irWalk struct {
	name, sib string
	size      int64
	version   string
	consts    int
	spans     []span
	issues    issues
}

// frame is one open element.
type frame struct {
	local string
	// constLayer: a <layer type="Const"> (IR v10+; the spec's examples
	// spell it "Constant", which the reader also maps to Constant-1).
	constLayer bool
	id, lname  string
}

// maxSpans caps the ranges kept for the coverage count; beyond it they are
// still checked.
const maxSpans = 1 << 20

func (w *irWalk) walk(ctx context.Context, r io.Reader) error {
	d := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	d.Strict = true
	var stack []frame
	root := false
	for tokens := 0; ; tokens++ {
		if tokens > maxXMLTokens {
			return fmt.Errorf("more than %d XML tokens", maxXMLTokens)
		}
		if tokens&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if !root {
				return errors.New("no root element")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML at byte %d: %v", d.InputOffset(), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if root {
					// OpenVINO reads the document element; what
					// follows it is not part of the model.
					return nil
				}
				if t.Name.Local != "net" {
					return fmt.Errorf("root element is <%s>, not <net>", clip(t.Name.Local))
				}
				root = true
				w.version = attr(t, "version")
			}
			if len(stack) >= maxXMLDepth {
				return fmt.Errorf("elements nested deeper than %d", maxXMLDepth)
			}
			f := frame{local: t.Name.Local}
			switch {
			case t.Name.Local == "layer":
				typ := attr(t, "type")
				f.constLayer = typ == "Const" || typ == "Constant"
				f.id, f.lname = attr(t, "id"), attr(t, "name")
			case t.Name.Local == "data" && len(stack) > 0 && stack[len(stack)-1].constLayer:
				w.constant(stack[len(stack)-1], t)
			}
			stack = append(stack, f)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// constant checks one Const layer's <data offset="…" size="…"/>. Both are
// required, non-negative decimal integers (the reader parses them with
// std::stoull-like strictness and throws on anything else).
func (w *irWalk) constant(layer frame, data xml.StartElement) {
	w.consts++
	offS, hasOff := attrOK(data, "offset")
	sizeS, hasSize := attrOK(data, "size")
	evidence := fmt.Sprintf("%s: layer id=%q name=%q offset=%q size=%q", w.sib, clip(layer.id), clip(layer.lname), clip(offS), clip(sizeS))
	off, errOff := strconv.ParseUint(strings.TrimSpace(offS), 10, 63)
	n, errSize := strconv.ParseUint(strings.TrimSpace(sizeS), 10, 63)
	switch {
	case !hasOff || !hasSize:
		w.issues.add(rangeIssue(-1, w.size, fmt.Sprintf("Const layer %q of %s has no offset or size: OpenVINO refuses the model", clip(layer.lname), w.sib), evidence))
	case errOff != nil || errSize != nil:
		w.issues.add(rangeIssue(-1, w.size, fmt.Sprintf("Const layer %q of %s: offset or size is not a byte count: OpenVINO refuses the model", clip(layer.lname), w.sib), evidence))
	case off > uint64(w.size) || n > uint64(w.size)-off:
		w.issues.add(rangeIssue(int64(off), w.size, fmt.Sprintf("Const layer %q of %s takes bytes %d to %d, past the end of this %d-byte file: OpenVINO refuses the model",
			clip(layer.lname), w.sib, off, off+n, w.size), evidence))
	case len(w.spans) < maxSpans:
		w.spans = append(w.spans, span{int64(off), int64(off + n)})
	}
}

func attr(e xml.StartElement, name string) string {
	v, _ := attrOK(e, name)
	return v
}

func attrOK(e xml.StartElement, name string) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}
