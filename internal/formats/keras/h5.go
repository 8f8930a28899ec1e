package keras

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// H5Analyzer handles HDF5 files: legacy Keras models (model.save("x.h5"),
// format "keras-h5") and any other HDF5 file (weights, format "hdf5").
// Only the root group's attributes are read.
type H5Analyzer struct{}

// Format implements analyzer.Analyzer.
func (H5Analyzer) Format() string { return "hdf5" }

// Match implements analyzer.Analyzer: the HDF5 signature at offset 0 or
// after a user block of 512, 1024 or 2048 bytes.
func (H5Analyzer) Match(_ string, head []byte) bool {
	_, ok := findSignature(head)
	return ok
}

// rootAttrs are the root attributes Keras 1/2 and tf.keras write.
const (
	attrModelConfig    = "model_config"
	attrTrainingConfig = "training_config"
	attrKerasVersion   = "keras_version"
	attrBackend        = "backend"
)

// Analyze reads the root attributes and walks model_config and
// training_config. A panic in the reader (a bug meeting a hostile file)
// becomes an error: what was found stays reported.
func (H5Analyzer) Analyze(_ context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("HDF5 reader failed on this file: %v", r)
		}
	}()
	f, err := openH5(in.R, in.Size)
	if err != nil {
		return err
	}
	attrs, attrErr := f.rootAttributes()
	byName := map[string]h5Attr{}
	var errs []error
	if attrErr != nil {
		errs = append(errs, attrErr)
	}
	for _, a := range attrs {
		if a.Err != nil {
			errs = append(errs, a.Err)
		}
		if _, dup := byName[a.Name]; dup && a.Name != "" {
			out.Add(finding.Finding{RuleID: knowledge.RuleKerasCustomObject, Severity: finding.Medium, Member: a.Name, Offset: finding.NoOffset,
				Message: fmt.Sprintf("the root group has two attributes named %q: readers may pick different ones (both were analysed)", a.Name)})
		}
		byName[a.Name] = a
	}
	str := func(name string) string {
		if a, ok := byName[name]; ok && a.Value != nil {
			return string(a.Value)
		}
		return ""
	}
	var sum Summary
	hasModel := false
	for _, a := range attrs {
		if a.Name != attrModelConfig && a.Name != attrTrainingConfig {
			continue
		}
		if a.Err != nil {
			continue
		}
		if a.Value == nil {
			errs = append(errs, fmt.Errorf("attribute %q is a %s, not a string: not analysed", a.Name, a.Type))
			continue
		}
		s, err := CheckConfig(a.Value, a.Name+" attribute", a.Name, out)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.Name == attrModelConfig {
			hasModel = true
			sum = s
		}
	}
	if _, ok := byName[attrModelConfig]; ok {
		out.Format = "keras-h5"
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: h5Summary(f, len(attrs), hasModel, sum, str(attrKerasVersion), str(attrBackend))})
	return errors.Join(errs...)
}

func h5Summary(f *h5File, nattrs int, hasModel bool, sum Summary, version, backend string) string {
	var b strings.Builder
	if hasModel {
		b.WriteString("Keras HDF5 model")
		var facts []string
		if version != "" {
			facts = append(facts, "Keras "+version)
		}
		if backend != "" {
			facts = append(facts, "backend "+backend)
		}
		if len(facts) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(facts, ", "))
		}
		fmt.Fprintf(&b, ": %s; ", sum)
	} else {
		b.WriteString("HDF5 file without a Keras model config: ")
	}
	fmt.Fprintf(&b, "superblock version %d, %d root attributes", f.SBVersion, nattrs)
	if f.base > 0 {
		fmt.Fprintf(&b, ", %d-byte user block", f.base)
	}
	b.WriteString(" (datasets not read)")
	return b.String()
}

// IsArchive reports whether zip member names are a Keras v3 archive:
// config.json and metadata.json at the root (keras.saving.save_model
// writes them with model.weights.h5 or model.weights.npz).
func IsArchive(names []string) bool {
	var config, metadata bool
	for _, n := range names {
		switch n {
		case "config.json":
			config = true
		case "metadata.json":
			metadata = true
		}
	}
	return config && metadata
}

// IsArchiveConfig reports whether a member of a Keras archive is one that
// Keras reads as JSON (and this package analyses).
func IsArchiveConfig(name string) bool { return name == "config.json" || name == "metadata.json" }

// CheckArchiveMember analyses config.json or metadata.json of a .keras
// archive (data read with a cap of MaxConfig+1 bytes). In another zip
// (isKeras false) a config.json is analysed only when it is a Keras model
// config (a JSON object with a class_name): Keras would load it, anything
// else is some other tool's configuration.
func CheckArchiveMember(name string, data []byte, isKeras bool, out *analyzer.Output) error {
	if !isKeras && !looksLikeModelConfig(data) {
		return nil
	}
	if len(data) > MaxConfig {
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Member: name, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%s is larger than %d bytes; not analysed", name, MaxConfig)})
		return fmt.Errorf("%s is larger than %d bytes; not analysed", name, MaxConfig)
	}
	if name == "metadata.json" {
		m, err := CheckMetadata(data)
		if err != nil {
			return err
		}
		msg := "Keras archive metadata.json"
		if m.KerasVersion != "" {
			msg += ": saved by Keras " + m.KerasVersion
		}
		if m.DateSaved != "" {
			msg += " on " + m.DateSaved
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Member: name, Offset: finding.NoOffset, Message: msg})
		return nil
	}
	sum, err := CheckConfig(data, name, name, out)
	if err != nil {
		return err
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Member: name, Offset: finding.NoOffset,
		Message: "Keras model config: " + sum.String()})
	return nil
}

// looksLikeModelConfig reports whether data is a JSON object with a string
// class_name at the top: the shape of every Keras model config.
func looksLikeModelConfig(data []byte) bool {
	if len(data) > MaxConfig {
		return true // too large to tell: reported as such
	}
	v, err := parseJSON(data)
	if err != nil {
		return false
	}
	o, ok := v.(*object)
	if !ok {
		return false
	}
	_, ok = o.str("class_name")
	return ok
}
