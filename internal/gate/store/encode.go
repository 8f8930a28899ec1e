package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/finding"
)

// Caps on what one record may hold. Identifiers are also index keys, and a
// PostgreSQL B-tree entry must stay under about 2.7 kB.
const (
	MaxIdent        = 1 << 10   // repo, revision, commit, etag, hashes, client, method, verdict
	MaxText         = 8 << 10   // path, reason, one error
	MaxFindingText  = 4 << 10   // a finding's message or evidence
	MaxFindingsJSON = 256 << 10 // the JSON of one record's findings
	MaxErrors       = 64        // errors kept per verdict
)

// clean makes s storable in both backends: invalid UTF-8 and NUL become
// U+FFFD, and s is cut to at most max bytes at a rune boundary.
func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// checkKey refuses a key field that clean would alter: a remembered verdict
// must never match a different file.
func checkKey(name, s string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("%w: verdict %s is %d bytes (max %d)", ErrInvalid, name, len(s), max)
	case !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: verdict %s %q is not valid UTF-8 text", ErrInvalid, name, s)
	}
	return nil
}

func checkVerdictKey(repo, commit, path, etag, policyHash string) error {
	for _, f := range []struct {
		name, s string
		max     int
	}{
		{"repo", repo, MaxIdent}, {"commit", commit, MaxIdent}, {"path", path, MaxText},
		{"etag", etag, MaxIdent}, {"policy hash", policyHash, MaxIdent},
	} {
		if err := checkKey(f.name, f.s, f.max); err != nil {
			return err
		}
	}
	return nil
}

// verdictKey is the primary key of a remembered verdict: a hash of the
// length-prefixed key fields, so that the index stays small whatever the
// path length.
func verdictKey(repo, commit, path, etag, policyHash string) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{repo, commit, path, etag, policyHash} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// findingJSON mirrors a finding in the scan JSON contract (jsonout).
type findingJSON struct {
	RuleID      string           `json:"rule_id"`
	Severity    finding.Severity `json:"severity"`
	Message     string           `json:"message"`
	Member      string           `json:"member,omitempty"`
	Offset      *int64           `json:"offset,omitempty"`
	Evidence    string           `json:"evidence,omitempty"`
	Suppression *suppressionJSON `json:"suppression,omitempty"`
}

type suppressionJSON struct {
	Reason  string `json:"reason"`
	Owner   string `json:"owner"`
	Expires string `json:"expires"`
}

// encodeFindings returns the JSON array stored for fs and how many findings
// did not fit in MaxFindingsJSON. When some must go, the most severe are
// kept.
func encodeFindings(fs []finding.Finding) (string, int, error) {
	items := make([][]byte, 0, min(len(fs), 1024))
	total := 2 // "[]"
	for _, f := range fs {
		b, err := json.Marshal(toJSON(f))
		if err != nil {
			return "", 0, err
		}
		items = append(items, b)
		total += len(b) + 1
		if total > MaxFindingsJSON {
			break
		}
	}
	if total > MaxFindingsJSON {
		return encodeWorst(fs)
	}
	return "[" + string(joinJSON(items)) + "]", 0, nil
}

// encodeWorst encodes the most severe findings that fit.
func encodeWorst(fs []finding.Finding) (string, int, error) {
	sorted := slices.Clone(fs)
	finding.Sort(sorted)
	var items [][]byte
	total := 2
	for _, f := range sorted {
		b, err := json.Marshal(toJSON(f))
		if err != nil {
			return "", 0, err
		}
		if total+len(b)+1 > MaxFindingsJSON {
			break
		}
		items = append(items, b)
		total += len(b) + 1
	}
	return "[" + string(joinJSON(items)) + "]", len(fs) - len(items), nil
}

func joinJSON(items [][]byte) []byte {
	var out []byte
	for i, b := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	return out
}

func toJSON(f finding.Finding) findingJSON {
	j := findingJSON{
		RuleID:   clean(f.RuleID, MaxIdent),
		Severity: f.Severity,
		Message:  clean(f.Message, MaxFindingText),
		Member:   clean(f.Member, MaxText),
		Evidence: clean(f.Evidence, MaxFindingText),
	}
	if f.Offset != finding.NoOffset {
		off := f.Offset
		j.Offset = &off
	}
	if s := f.Suppression; s != nil {
		j.Suppression = &suppressionJSON{
			Reason:  clean(s.Reason, MaxText),
			Owner:   clean(s.Owner, MaxIdent),
			Expires: clean(s.Expires, MaxIdent),
		}
	}
	return j
}

func decodeFindings(s string) ([]finding.Finding, error) {
	var js []findingJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, fmt.Errorf("decoding stored findings: %w", err)
	}
	if len(js) == 0 {
		return nil, nil
	}
	fs := make([]finding.Finding, len(js))
	for i, j := range js {
		fs[i] = finding.Finding{
			RuleID:   j.RuleID,
			Severity: j.Severity,
			Message:  j.Message,
			Member:   j.Member,
			Offset:   finding.NoOffset,
			Evidence: j.Evidence,
		}
		if j.Offset != nil {
			fs[i].Offset = *j.Offset
		}
		if s := j.Suppression; s != nil {
			fs[i].Suppression = &finding.Suppression{Reason: s.Reason, Owner: s.Owner, Expires: s.Expires}
		}
	}
	return fs, nil
}

func encodeErrors(errs []string) (string, error) {
	if n := len(errs); n > MaxErrors {
		errs = append(errs[:MaxErrors-1:MaxErrors-1], fmt.Sprintf("(%d more errors not stored)", n-MaxErrors+1))
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = clean(e, MaxText)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeErrors(s string) ([]string, error) {
	var errs []string
	if err := json.Unmarshal([]byte(s), &errs); err != nil {
		return nil, fmt.Errorf("decoding stored errors: %w", err)
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return errs, nil
}
