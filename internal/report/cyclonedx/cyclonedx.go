// Package cyclonedx writes the scan document as a CycloneDX 1.6 ML-BOM:
// each scanned file is a machine-learning-model component (name, SHA-256,
// format, path, size, verdict), each finding a vulnerability affecting it,
// and the effective policy's hash a metadata property.
//
// Suppressed findings stay in the BOM with an analysis: state
// "false_positive" (a suppression is a reviewed exception for one exact
// file), the reason, owner and expiry in the analysis detail and as
// properties.
package cyclonedx

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

// Property names, all in the modelgate namespace.
const (
	PropPolicyHash   = "modelgate:policy-hash"
	PropPolicySource = "modelgate:policy-source"
	PropFailOn       = "modelgate:fail-on"
	PropVerdict      = "modelgate:verdict"
	PropFormat       = "modelgate:format"
	PropPath         = "modelgate:path"
	PropSize         = "modelgate:size"
	PropError        = "modelgate:error"
	PropSeverity     = "modelgate:severity"
	PropMember       = "modelgate:member"
	PropOffset       = "modelgate:offset"
	PropEvidence     = "modelgate:evidence"
	PropSuppReason   = "modelgate:suppression-reason"
	PropSuppOwner    = "modelgate:suppression-owner"
	PropSuppExpires  = "modelgate:suppression-expires"
)

// InformationURI is where the tool is documented.
const InformationURI = "https://github.com/modelgate/modelgate"

// ruleByID looks rules up (for advisories); a variable so that golden tests
// can pin the rule texts independently of the catalogue's wording.
var ruleByID = knowledge.RuleByID

// SuppressedState is the analysis state of a suppressed finding.
const SuppressedState = cdx.IASFalsePositive

// Options control what is not derived from the document.
type Options struct {
	// Now is the clock for metadata.timestamp (and the serial number);
	// time.Now when nil. Tests pin it for byte-identical output.
	Now func() time.Time
}

// Write renders d as CycloneDX 1.6 JSON, stamped with the current time.
func Write(w io.Writer, d *report.Document) error {
	return WriteOptions(w, d, Options{})
}

// WriteOptions renders d as CycloneDX 1.6 JSON. The serial number is a
// name-based (version 5) UUID of the BOM's content and timestamp: the same
// document at the same instant gives the same serial, any change gives
// another.
func WriteOptions(w io.Writer, d *report.Document, o Options) error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now().UTC()
	bom := build(d, t.Truncate(time.Second).Format(time.RFC3339))

	// Serial from the content: encode once without it, hash, set it.
	var content bytes.Buffer
	if err := encode(&content, bom); err != nil {
		return err
	}
	sum := sha256.Sum256(content.Bytes())
	bom.SerialNumber = "urn:uuid:" + uuidString(uuidV5(serialNamespace, fmt.Sprintf("%x@%d", sum, t.UnixNano())))
	return encode(w, bom)
}

func encode(w io.Writer, bom *cdx.BOM) error {
	return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false).EncodeVersion(bom, cdx.SpecVersion1_6)
}

func build(d *report.Document, timestamp string) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.JSONSchema = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	bom.Version = 1

	meta := []cdx.Property{}
	if d.PolicyHash != "" {
		meta = append(meta, cdx.Property{Name: PropPolicyHash, Value: d.PolicyHash})
	}
	if d.PolicySource != "" {
		meta = append(meta, cdx.Property{Name: PropPolicySource, Value: d.PolicySource})
	}
	meta = append(meta,
		cdx.Property{Name: PropFailOn, Value: d.FailOn.String()},
		cdx.Property{Name: PropVerdict, Value: d.Verdict().String()})
	bom.Metadata = &cdx.Metadata{
		Timestamp: timestamp,
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type:    cdx.ComponentTypeApplication,
			BOMRef:  "modelgate",
			Name:    "modelgate",
			Version: d.ToolVersion,
			ExternalReferences: &[]cdx.ExternalReference{
				{Type: cdx.ERTypeWebsite, URL: InformationURI},
			},
		}}},
		Properties: &meta,
	}

	components := []cdx.Component{}
	vulns := []cdx.Vulnerability{}
	refs := map[string]int{}
	for i, f := range d.Files {
		ref := "model:" + f.Path
		if n := refs[ref]; n > 0 { // the same path named twice
			refs[ref]++
			ref += "#" + strconv.Itoa(n+1)
		} else {
			refs[ref] = 1
		}
		components = append(components, component(d, f, ref))
		for j, x := range f.Findings {
			vulns = append(vulns, vulnerability(x, f, ref, fmt.Sprintf("finding:%d:%d", i+1, j+1)))
		}
	}
	bom.Components = &components
	if len(vulns) > 0 {
		bom.Vulnerabilities = &vulns
	}
	return bom
}

func component(d *report.Document, f scan.FileResult, ref string) cdx.Component {
	c := cdx.Component{
		BOMRef: ref,
		Type:   cdx.ComponentTypeMachineLearningModel,
		Name:   fileName(f.Path),
	}
	if f.SHA256 != "" {
		c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: f.SHA256}}
	}
	props := []cdx.Property{}
	if f.Format != "" {
		props = append(props, cdx.Property{Name: PropFormat, Value: f.Format})
	}
	props = append(props,
		cdx.Property{Name: PropPath, Value: f.Path},
		cdx.Property{Name: PropSize, Value: strconv.FormatInt(f.Size, 10)},
		cdx.Property{Name: PropVerdict, Value: d.FileVerdict(f).String()})
	for _, e := range f.Errors {
		props = append(props, cdx.Property{Name: PropError, Value: e})
	}
	c.Properties = &props
	return c
}

func vulnerability(x finding.Finding, f scan.FileResult, compRef, ref string) cdx.Vulnerability {
	desc := x.Message
	if x.Evidence != "" {
		desc += "\nEvidence: " + x.Evidence
	}
	v := cdx.Vulnerability{
		BOMRef:      ref,
		ID:          x.RuleID,
		Source:      &cdx.Source{Name: "modelgate", URL: InformationURI},
		Ratings:     &[]cdx.VulnerabilityRating{{Severity: severity(x.Severity), Method: cdx.ScoringMethodOther}},
		Description: desc,
		Detail:      detail(x, f.Path),
		Affects:     &[]cdx.Affects{{Ref: compRef}},
	}
	if rule, ok := ruleByID(x.RuleID); ok && rule.Reference != "" && strings.Contains(rule.Reference, "://") {
		v.Advisories = &[]cdx.Advisory{{Title: rule.Title, URL: rule.Reference}}
	}
	props := []cdx.Property{{Name: PropSeverity, Value: x.Severity.String()}}
	if x.Member != "" {
		props = append(props, cdx.Property{Name: PropMember, Value: x.Member})
	}
	if x.Offset != finding.NoOffset {
		props = append(props, cdx.Property{Name: PropOffset, Value: strconv.FormatInt(x.Offset, 10)})
	}
	if x.Evidence != "" {
		props = append(props, cdx.Property{Name: PropEvidence, Value: x.Evidence})
	}
	if sp := x.Suppression; sp != nil {
		pinned := "this file"
		if f.SHA256 != "" {
			pinned += " (sha256 " + f.SHA256 + ")"
		}
		v.Analysis = &cdx.VulnerabilityAnalysis{
			State:  SuppressedState,
			Detail: fmt.Sprintf("Suppressed by policy for %s: %s (owner %s, expires %s)", pinned, sp.Reason, sp.Owner, sp.Expires),
		}
		props = append(props,
			cdx.Property{Name: PropSuppReason, Value: sp.Reason},
			cdx.Property{Name: PropSuppOwner, Value: sp.Owner},
			cdx.Property{Name: PropSuppExpires, Value: sp.Expires})
	}
	v.Properties = &props
	return v
}

// detail renders where the finding is: the file, the member chain, the
// byte offset.
func detail(x finding.Finding, p string) string {
	s := "In " + p
	if x.Member != "" {
		s += ", member " + x.Member
	}
	if x.Offset != finding.NoOffset {
		s += ", at byte offset " + strconv.FormatInt(x.Offset, 10)
		if x.Member != "" {
			s += " of the member"
		}
	}
	return s
}

// severity maps modelgate severities to CycloneDX ones (same names).
func severity(s finding.Severity) cdx.Severity {
	switch s {
	case finding.Critical:
		return cdx.SeverityCritical
	case finding.High:
		return cdx.SeverityHigh
	case finding.Medium:
		return cdx.SeverityMedium
	case finding.Low:
		return cdx.SeverityLow
	case finding.Info:
		return cdx.SeverityInfo
	}
	return cdx.SeverityUnknown
}

// fileName is the last element of a local path or a URI.
func fileName(p string) string {
	if strings.Contains(p, "://") {
		return path.Base(p)
	}
	return filepath.Base(p)
}

// urlNamespace is RFC 4122's namespace for URLs.
var urlNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// serialNamespace is the UUID namespace of modelgate BOM serial numbers:
// the version 5 UUID of InformationURI in the URL namespace.
var serialNamespace = uuidV5(urlNamespace, InformationURI)

// uuidV5 is RFC 4122's name-based UUID (SHA-1).
func uuidV5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
