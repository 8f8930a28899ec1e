// Package sarif writes the scan document as a SARIF 2.1.0 log for code
// scanning dashboards (GitHub code scanning, Azure DevOps, IDE viewers).
//
// One run; one rule per rule id used in the document; one result per
// finding, suppressed findings included with their suppression; one
// artifact per scanned file. Model files are binary, so a result's region is
// at most a byte offset (and only for offsets into the file itself); the
// archive member chain and the offset inside it are carried in
// logicalLocations and the result's property bag.
package sarif

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/report"
)

const (
	// SchemaURI is the official OASIS SARIF 2.1.0 schema (errata 01), the one
	// committed under testdata.
	SchemaURI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	// Version is the SARIF version written.
	Version = "2.1.0"
	// InformationURI is where the tool is documented.
	InformationURI = "https://github.com/modelgate/modelgate"
	// SrcRoot is the uriBaseId of artifact locations relative to the scan root.
	SrcRoot = "%SRCROOT%"
	// FingerprintKey names the partial fingerprint: sha256 of rule id, path
	// relative to the scan root and member chain, NUL-separated.
	FingerprintKey = "modelgate/v1"
)

// severityMap is the one place where modelgate severities become SARIF
// levels and GitHub's security-severity scores (a CVSS-like 0.0-10.0 number,
// written as a string as GitHub and CodeQL do; GitHub ranks >= 9.0
// critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low).
var severityMap = map[finding.Severity]struct {
	level string
	score string
}{
	finding.Critical: {"error", "9.5"},
	finding.High:     {"error", "8.0"},
	finding.Medium:   {"warning", "5.5"},
	finding.Low:      {"note", "3.0"},
	finding.Info:     {"note", "0.0"},
}

// Level maps a severity to a SARIF level (critical/high error, medium
// warning, low/info note).
func Level(s finding.Severity) string {
	if m, ok := severityMap[s]; ok {
		return m.level
	}
	return "warning"
}

// SecuritySeverity maps a severity to GitHub's security-severity score.
func SecuritySeverity(s finding.Severity) string {
	if m, ok := severityMap[s]; ok {
		return m.score
	}
	return "5.5"
}

// ruleByID looks rules up; a variable so that golden tests can pin the rule
// texts independently of the catalogue's wording.
var ruleByID = knowledge.RuleByID

type log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []run  `json:"runs"`
}

type run struct {
	Tool               tool                   `json:"tool"`
	Invocations        []invocation           `json:"invocations"`
	OriginalURIBaseIDs map[string]artifactLoc `json:"originalUriBaseIds,omitempty"`
	Artifacts          []artifact             `json:"artifacts"`
	Results            []result               `json:"results"`
	Properties         map[string]string      `json:"properties,omitempty"`
}

type tool struct {
	Driver driver `json:"driver"`
}

type driver struct {
	Name           string       `json:"name"`
	Version        string       `json:"version,omitempty"`
	InformationURI string       `json:"informationUri"`
	Rules          []descriptor `json:"rules"`
}

type text struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type descriptor struct {
	ID                   string        `json:"id"`
	Name                 string        `json:"name"`
	ShortDescription     text          `json:"shortDescription"`
	FullDescription      *text         `json:"fullDescription,omitempty"`
	HelpURI              string        `json:"helpUri,omitempty"`
	Help                 text          `json:"help"`
	DefaultConfiguration configuration `json:"defaultConfiguration"`
	Properties           ruleProps     `json:"properties"`
}

type configuration struct {
	Level string `json:"level"`
}

type ruleProps struct {
	SecuritySeverity string   `json:"security-severity"`
	Severity         string   `json:"modelgate-severity"`
	Tags             []string `json:"tags"`
}

type artifactLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
	Index     *int   `json:"index,omitempty"`
}

type artifact struct {
	Location   artifactLoc       `json:"location"`
	Length     int64             `json:"length"`
	Roles      []string          `json:"roles"`
	Hashes     map[string]string `json:"hashes,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

type region struct {
	ByteOffset int64 `json:"byteOffset"`
}

type physicalLocation struct {
	ArtifactLocation artifactLoc `json:"artifactLocation"`
	Region           *region     `json:"region,omitempty"`
}

type logicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
}

type location struct {
	PhysicalLocation physicalLocation  `json:"physicalLocation"`
	LogicalLocations []logicalLocation `json:"logicalLocations,omitempty"`
}

type suppression struct {
	Kind          string            `json:"kind"`
	Status        string            `json:"status"`
	Justification string            `json:"justification"`
	Properties    map[string]string `json:"properties"`
}

type resultProps struct {
	Severity string `json:"severity"`
	Member   string `json:"member,omitempty"`
	Offset   *int64 `json:"offset,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

type result struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             text              `json:"message"`
	Locations           []location        `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Suppressions        []suppression     `json:"suppressions,omitempty"`
	Properties          resultProps       `json:"properties"`
}

type notification struct {
	Level     string     `json:"level"`
	Message   text       `json:"message"`
	Locations []location `json:"locations"`
}

type invocation struct {
	ExecutionSuccessful        bool              `json:"executionSuccessful"`
	ExitCode                   int               `json:"exitCode"`
	ExitCodeDescription        string            `json:"exitCodeDescription"`
	ToolExecutionNotifications []notification    `json:"toolExecutionNotifications,omitempty"`
	Properties                 map[string]string `json:"properties"`
}

// Write renders d as a SARIF 2.1.0 log. root is the scan root: artifact
// URIs are relative to it (forward slashes, uriBaseId %SRCROOT%); a path
// that is not under root is written as given (an absolute path as a file://
// URI) without a uriBaseId. An empty root means the working directory.
func Write(w io.Writer, d *report.Document, root string) error {
	r := run{
		Tool:       tool{Driver: driver{Name: "modelgate", Version: d.ToolVersion, InformationURI: InformationURI, Rules: []descriptor{}}},
		Artifacts:  []artifact{},
		Results:    []result{},
		Properties: map[string]string{},
	}
	if root != "" && filepath.IsAbs(root) {
		r.OriginalURIBaseIDs = map[string]artifactLoc{SrcRoot: {URI: fileURI(root, true)}}
	}
	if d.PolicyHash != "" {
		r.Properties["policyHash"] = d.PolicyHash
	}
	if d.PolicySource != "" {
		r.Properties["policySource"] = d.PolicySource
	}

	ruleIndex := rules(d, &r.Tool.Driver)
	inv := invocation{ExecutionSuccessful: true, Properties: map[string]string{"failOn": d.FailOn.String()}}
	// A file named twice on the command line is one artifact (run.artifacts
	// must hold unique items).
	artifactIndex := map[artifactLoc]int{}
	for _, f := range d.Files {
		rel, uri, base := locate(root, f.Path)
		key := artifactLoc{URI: uri, URIBaseID: base}
		idx, ok := artifactIndex[key]
		if !ok {
			idx = len(r.Artifacts)
			artifactIndex[key] = idx
			a := artifact{Location: key, Length: f.Size, Roles: []string{"analysisTarget"}}
			if f.SHA256 != "" {
				a.Hashes = map[string]string{"sha-256": f.SHA256}
			}
			if f.Format != "" {
				a.Properties = map[string]string{"format": f.Format}
			}
			r.Artifacts = append(r.Artifacts, a)
		}
		loc := artifactLoc{URI: uri, URIBaseID: base, Index: &idx}

		for _, x := range f.Findings {
			r.Results = append(r.Results, toResult(x, loc, rel, ruleIndex[x.RuleID]))
		}
		for _, e := range f.Errors {
			inv.ExecutionSuccessful = false
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, notification{
				Level: "error", Message: text{Text: e},
				Locations: []location{{PhysicalLocation: physicalLocation{ArtifactLocation: loc}}},
			})
		}
	}
	v := d.Verdict()
	inv.ExitCode, inv.ExitCodeDescription = int(v), v.String()
	r.Invocations = []invocation{inv}
	if len(r.Properties) == 0 {
		r.Properties = nil
	}

	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(log{Schema: SchemaURI, Version: Version, Runs: []run{r}})
}

// rules fills the driver's rules (one per rule id used, sorted by id) and
// returns each id's index.
func rules(d *report.Document, drv *driver) map[string]int {
	seen := map[string]finding.Severity{}
	var ids []string
	for _, f := range d.Files {
		for _, x := range f.Findings {
			if _, ok := seen[x.RuleID]; !ok {
				seen[x.RuleID] = x.Severity
				ids = append(ids, x.RuleID)
			}
		}
	}
	slices.Sort(ids)
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
		rule, ok := ruleByID(id)
		if !ok {
			// Not in the catalogue: describe it by its id and the severity
			// of its first finding.
			rule = finding.Rule{ID: id, Severity: seen[id], Title: id}
		}
		drv.Rules = append(drv.Rules, describe(rule))
	}
	return index
}

func describe(rule finding.Rule) descriptor {
	title := rule.Title
	if title == "" {
		title = rule.ID
	}
	ds := descriptor{
		ID:                   rule.ID,
		Name:                 pascal(rule.ID),
		ShortDescription:     text{Text: title},
		DefaultConfiguration: configuration{Level: Level(rule.Severity)},
		Properties: ruleProps{
			SecuritySeverity: SecuritySeverity(rule.Severity),
			Severity:         rule.Severity.String(),
			Tags:             []string{"security", "ml-model"},
		},
	}
	if rule.Description != "" {
		ds.FullDescription = &text{Text: rule.Description}
	}
	helpText := title
	helpMD := "**" + markdownEscape(title) + "** (`" + rule.ID + "`, " + rule.Severity.String() + ")"
	if rule.Description != "" {
		helpText += "\n\n" + rule.Description
		helpMD += "\n\n" + markdownEscape(rule.Description)
	}
	if rule.Reference != "" {
		helpText += "\n\nReference: " + rule.Reference
		if absURI(rule.Reference) {
			ds.HelpURI = rule.Reference
			helpMD += "\n\nReference: <" + rule.Reference + ">"
		} else {
			helpMD += "\n\nReference: " + markdownEscape(rule.Reference)
		}
	}
	ds.Help = text{Text: helpText, Markdown: helpMD}
	return ds
}

func toResult(x finding.Finding, loc artifactLoc, rel string, ruleIndex int) result {
	msg := x.Message
	if x.Evidence != "" {
		msg += "\nEvidence: " + x.Evidence
	}
	if l := x.Location(); l != "" {
		if x.Member == "" {
			l = "offset " + strings.TrimPrefix(l, "@")
		}
		msg += "\nLocation: " + l
	}
	res := result{
		RuleID:    x.RuleID,
		RuleIndex: ruleIndex,
		Level:     Level(x.Severity),
		Message:   text{Text: msg},
		PartialFingerprints: map[string]string{
			FingerprintKey: Fingerprint(x.RuleID, rel, x.Member),
		},
		Properties: resultProps{Severity: x.Severity.String(), Member: x.Member, Evidence: x.Evidence},
	}
	pl := physicalLocation{ArtifactLocation: loc}
	if x.Offset != finding.NoOffset {
		off := x.Offset
		res.Properties.Offset = &off
		// The offset is into the artifact itself only when there is no
		// member; inside a member it counts bytes of the (possibly
		// decompressed) member stream, which the artifact does not have.
		if x.Member == "" && off >= 0 {
			pl.Region = &region{ByteOffset: off}
		}
	}
	l := location{PhysicalLocation: pl}
	if x.Member != "" {
		name := x.Member
		if i := strings.LastIndex(name, "!"); i >= 0 {
			name = name[i+1:]
		}
		l.LogicalLocations = []logicalLocation{{Name: name, FullyQualifiedName: x.Member}}
	}
	res.Locations = []location{l}
	if sp := x.Suppression; sp != nil {
		res.Suppressions = []suppression{{
			Kind: "external", Status: "accepted", Justification: sp.Reason,
			Properties: map[string]string{"owner": sp.Owner, "expires": sp.Expires},
		}}
	}
	return res
}

// Fingerprint is the stable partial fingerprint of a finding: the hex
// SHA-256 of rule id, path relative to the scan root (forward slashes) and
// member chain, separated by NUL bytes. It does not depend on the message,
// severity or offset, so it survives rewording and re-scans.
func Fingerprint(ruleID, relPath, member string) string {
	h := sha256.Sum256([]byte(ruleID + "\x00" + relPath + "\x00" + member))
	return hex.EncodeToString(h[:])
}

// locate returns the path as used in fingerprints (relative to root with
// forward slashes when under root, else as given), the artifact URI, and
// its uriBaseId ("" when the URI is not relative to the scan root).
func locate(root, p string) (rel, uri, base string) {
	if hasScheme(p) {
		return p, p, ""
	}
	if r, ok := under(root, p); ok {
		return r, relURI(r), SrcRoot
	}
	if filepath.IsAbs(p) {
		return filepath.ToSlash(p), fileURI(p, false), ""
	}
	s := filepath.ToSlash(p)
	return s, relURI(s), ""
}

// under reports whether p lies inside root and returns p relative to it.
func under(root, p string) (string, bool) {
	if p == "-" { // stdin has no place in the tree
		return "", false
	}
	if root == "" {
		root = "."
	}
	ar, err1 := filepath.Abs(root)
	ap, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return "", false
	}
	r, err := filepath.Rel(ar, ap)
	if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// relURI escapes a slash-separated relative path as a URI reference.
func relURI(p string) string {
	u := (&url.URL{Path: p}).EscapedPath()
	// A colon in the first segment would read as a scheme.
	first, _, _ := strings.Cut(u, "/")
	if strings.Contains(first, ":") {
		u = "./" + u
	}
	return u
}

// fileURI makes an absolute file:// URI of a local path.
func fileURI(p string, dir bool) string {
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	s := filepath.ToSlash(p)
	if !strings.HasPrefix(s, "/") { // Windows drive letter
		s = "/" + s
	}
	if dir && !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return (&url.URL{Scheme: "file", Path: s}).String()
}

// hasScheme reports whether p is already a URI such as hf://org/repo/file
// (a Windows drive letter is not a scheme).
func hasScheme(p string) bool {
	i := strings.Index(p, "://")
	if i < 2 {
		return false
	}
	for _, c := range p[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func absURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Host != ""
}

// pascal turns a rule id (PICKLE-DANGEROUS-CALL) into a SARIF rule name
// (PickleDangerousCall).
func pascal(id string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(strings.ToLower(part[1:]))
	}
	return b.String()
}

var mdEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`)

func markdownEscape(s string) string { return mdEscaper.Replace(s) }
