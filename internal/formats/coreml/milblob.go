package coreml

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// The MIL blob storage format (apple/coremltools
// mlmodel/src/MILBlob/Blob/StorageFormat.hpp, StorageReader.cpp,
// StorageWriter.cpp): the weight file of an ML program,
// Data/com.apple.CoreML/weights/weight.bin in an .mlpackage.
//
//	storage_header (64 bytes): uint32 count, uint32 version (2), 7 × uint64 reserved
//	then count times, each 64-byte aligned:
//	blob_metadata (64 bytes): uint32 sentinel 0xDEADBEEF, uint32 mil_dtype,
//	    uint64 sizeInBytes, uint64 offset (of the data), uint64 padding_size_in_bits,
//	    4 × uint64 reserved (uninitialised before iOS 18, so not checked)
//	the blob's data
//
// Core ML's StorageReader refuses a version other than 2, reads the
// metadata at the offsets the program's BlobFileValues name and refuses
// one without the sentinel, and walks the blobs as GetAllOffsets does:
// the first metadata right after the header, each next one at the data's
// end rounded up to 64. The data is raw numbers; it is never read here.
const (
	headerSize     = 64
	metadataSize   = 64
	storageVersion = 2
	sentinel       = 0xDEADBEEF
	alignment      = 64
)

// blobTypes are BlobDataType (MILBlob/Blob/BlobDataType.hpp).
var blobTypes = []string{1: "float16", 2: "float32", 3: "uint8", 4: "int8", 5: "bfloat16", 6: "int16", 7: "uint16",
	8: "int4", 9: "uint1", 10: "uint2", 11: "uint4", 12: "uint3", 13: "uint6", 14: "int32", 15: "uint32",
	16: "float8e4m3fn", 17: "float8e5m2"}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// WeightsAnalyzer handles ML-program weight files.
type WeightsAnalyzer struct{}

// Format implements analyzer.Analyzer.
func (WeightsAnalyzer) Format() string { return "coreml-weights" }

// Match implements analyzer.Analyzer: a .bin name (coremltools writes
// weight.bin) and a storage header as StorageWriter writes it (version 2,
// reserved fields zero), followed by the first blob's metadata sentinel,
// or nothing at all when the header counts no blob.
func (WeightsAnalyzer) Match(name string, head []byte) bool {
	if !hasSuffixFold(name, ".bin") || len(head) < headerSize || le32(head[4:]) != storageVersion {
		return false
	}
	for _, c := range head[8:headerSize] {
		if c != 0 {
			return false
		}
	}
	if le32(head) == 0 {
		return len(head) == headerSize
	}
	return len(head) >= headerSize+metadataSize && le32(head[headerSize:]) == sentinel
}

// Analyze walks the blob metadata and checks every blob's data range
// against the file. The header's first byte is the low byte of the blob
// count, which can be any pickle opcode: when it is one, the file is also
// decoded as a pickle from byte 0, as safetensors' and TFLite's are (a
// weight file that torch.load or pickle.load would run). When it is not,
// pickle.load raises at byte 0 and the check is skipped, so that it reads
// no weight data.
func (WeightsAnalyzer) Analyze(ctx context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	var first [1]byte
	if _, err := in.R.ReadAt(first[:], 0); err == nil && pickle.IsOpcode(first[0]) {
		if pr := picklefile.ReadAsPickle(in.R, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue}); len(pr.Acts) > 0 {
			out.Findings = append(out.Findings, pr.Audit.Findings...)
			out.Nested = append(out.Nested, pr.Audit.Nested...)
		}
	}
	var malformed []note
	nMalformed := 0
	bad := func(off int64, format string, args ...any) {
		nMalformed++
		if len(malformed) < maxQuoted {
			malformed = append(malformed, note{off, fmt.Sprintf(format, args...)})
		}
	}
	var hdr [headerSize]byte
	if in.Size < headerSize {
		return fmt.Errorf("coreml-weights: %d bytes, less than the %d-byte header", in.Size, headerSize)
	}
	if _, err := in.R.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("coreml-weights: header: %w", err)
	}
	count := int64(le32(hdr[:]))
	if v := le32(hdr[4:]); v != storageVersion {
		bad(4, "storage version %d, not 2 (Core ML refuses the file)", v)
	}
	var (
		pos     int64 = headerSize
		end     int64 = headerSize // end of the last blob's data
		blobs   int64
		byType  = map[string]int64{}
		walkErr error
	)
	for i := int64(0); i < count; i++ {
		if i&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if pos > in.Size-metadataSize {
			bad(pos, "the header counts %d blobs, the file ends after %d", count, i)
			walkErr = fmt.Errorf("the header counts %d blobs, the file holds %d", count, i)
			break
		}
		var md [metadataSize]byte
		if _, err := in.R.ReadAt(md[:], pos); err != nil {
			walkErr = fmt.Errorf("blob %d metadata at %d: %w", i, pos, err)
			break
		}
		if s := le32(md[:]); s != sentinel {
			bad(pos, "blob %d at offset %d has sentinel %#x, not 0xdeadbeef (Core ML refuses it)", i, pos, s)
			walkErr = fmt.Errorf("blob %d at offset %d: no metadata sentinel", i, pos)
			break
		}
		dtype, size, off, padding := le32(md[4:]), le64(md[8:]), le64(md[16:]), le64(md[24:])
		typeName := "unknown"
		if int(dtype) < len(blobTypes) && blobTypes[dtype] != "" {
			typeName = blobTypes[dtype]
		} else {
			bad(pos, "blob %d has data type %d, outside BlobDataType", i, dtype)
		}
		if padding >= 8 {
			bad(pos, "blob %d has %d bits of padding (Core ML refuses 8 or more)", i, padding)
		}
		if off < uint64(pos)+metadataSize || off > uint64(in.Size) || size > uint64(in.Size)-off {
			bad(pos, "blob %d data (%d bytes at offset %d) is not between its metadata and the end of the file (%d bytes)", i, size, off, in.Size)
			walkErr = fmt.Errorf("blob %d data out of range", i)
			break
		}
		if off != uint64(pos)+metadataSize {
			bad(pos, "blob %d data starts %d bytes after its metadata, not right after it (StorageWriter leaves no gap)", i, off-uint64(pos)-metadataSize)
		}
		blobs++
		byType[typeName] += int64(size)
		end = int64(off + size)
		pos = (end + alignment - 1) / alignment * alignment
	}
	var nested []analyzer.Nested
	if walkErr == nil && in.Size > pos {
		// StorageWriter ends the file with the last blob's data: whatever
		// follows is never read by Core ML.
		bad(end, "%d bytes after the last blob's data that no metadata describes", in.Size-end)
		// What follows the alignment padding is handed to the engine from
		// the next 64-byte boundary when the padding is zeros (a payload
		// placed where the next blob would be), else from the data's end.
		from := end
		pad := make([]byte, pos-end)
		if k, _ := in.R.ReadAt(pad, end); k == len(pad) && allZero(pad) {
			from = pos
		}
		if n := in.Size - from; n >= minNested {
			head := make([]byte, min(n, pickle.SniffSize))
			k, _ := in.R.ReadAt(head, from)
			nested = append(nested, analyzer.Nested{Name: fmt.Sprintf("bytes-after-the-weights-at-%d", from),
				R: io.NewSectionReader(in.R, from, n), Size: n, Optional: sniff(head[:k]) == ""})
		}
	}
	if len(malformed) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleCoreMLMalformed, Severity: finding.Medium, Offset: malformed[0].off,
			Message:  fmt.Sprintf("the weight file does not follow the MIL blob storage format as Core ML reads it (%s)", plural(int64(nMalformed), "anomaly", "anomalies")),
			Evidence: joinNotes(malformed, nMalformed)})
	}
	out.Nested = append(out.Nested, nested...)
	msg := "Core ML weight file (MIL blob storage v2): "
	if walkErr != nil {
		msg += "partial: "
	}
	msg += plural(blobs, "blob", "blobs")
	if blobs != count {
		msg += fmt.Sprintf(" of the %d its header counts", count)
	}
	if len(byType) > 0 {
		var types []string
		for t, n := range byType {
			types = append(types, fmt.Sprintf("%s %d bytes", t, n))
		}
		sort.Strings(types)
		msg += " (" + strings.Join(types, ", ") + ")"
	}
	msg += "; raw numbers read at the offsets the model names, never interpreted as code"
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: msg})
	if walkErr != nil {
		return fmt.Errorf("coreml-weights: %w; Core ML refuses the file", walkErr)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
