package tensorflow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// The files beside saved_model.pb. The engine scans each file of a SavedModel
// directory on its own, so these must be recognised rather than reported as
// "not a recognised model format":
//
//	variables/variables.index                  TensorBundle index: a LevelDB-style table (tensor name → dtype, shape, shard, offset)
//	variables/variables.data-00000-of-00001    raw tensor bytes, read only at the offsets the index gives
//	fingerprint.pb                             FingerprintDef: hashes only
//	checkpoint                                 CheckpointState text proto of a training checkpoint directory
//
// Nothing in them is executed by TensorFlow: the graph is in saved_model.pb.

// TensorBundle table constants (tensorflow/core/lib/io/format.h, table_builder.cc).
const (
	tableMagic     = 0xdb4775248b80fb57 // kTableMagicNumber, the last 8 bytes, little-endian
	footerLen      = 48                 // two BlockHandles padded to 40 bytes, then the magic
	blockTrailer   = 5                  // compression type byte + masked CRC-32C
	maxIndexBlock  = 16 << 20           // bytes of the index block read
	maxDataBlock   = 64 << 20           // bytes of one data block read
	maxIndexRead   = 256 << 20          // bytes of data blocks read per index file
	maxBundleCount = 10_000_000         // entries counted per index file
)

// Field numbers of tensorflow/core/protobuf/tensor_bundle.proto and fingerprint.proto.
const (
	headerNumShards = 1 // BundleHeaderProto.num_shards: int32
	entryShardID    = 3 // BundleEntryProto.shard_id: int32
	entrySize       = 5 // BundleEntryProto.size: int64

	fingerprintVersion = 6 // FingerprintDef.version: VersionDef; fields 1-5 are uint64 hashes
)

var dataShardName = regexp.MustCompile(`\.data-(\d{5})-of-(\d{5})$`)

// CheckpointAnalyzer handles TensorBundle checkpoints (variables.index,
// variables.data-*) and the small files of a SavedModel or checkpoint
// directory (fingerprint.pb, checkpoint).
type CheckpointAnalyzer struct{}

// Format implements analyzer.Analyzer; Analyze refines it per file.
func (CheckpointAnalyzer) Format() string { return "tf-checkpoint" }

// Match implements analyzer.Analyzer. Names decide (these files have no magic
// at their start), and the head must agree.
func (CheckpointAnalyzer) Match(name string, head []byte) bool {
	switch kindOf(name, head) {
	case kindIndex, kindData, kindFingerprint, kindState:
		return true
	}
	return false
}

type fileKind int

const (
	kindNone fileKind = iota
	kindIndex
	kindData
	kindFingerprint
	kindState
)

func kindOf(name string, head []byte) fileKind {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	switch {
	case strings.HasSuffix(base, ".index") && len(head) >= 3 && head[0] == 0 && head[1] == 0:
		// The first entry of the first block has the empty key (shared 0,
		// non-shared 0): it holds the BundleHeaderProto.
		return kindIndex
	case dataShardName.MatchString(base) && !pickle.SniffStrict(head):
		// Raw tensor bytes; a pickle named like a shard is left to the
		// pickle analyser (TensorFlow would never unpickle it, but
		// something else might).
		return kindData
	case base == "fingerprint.pb" && looksLikeFingerprint(head, false):
		return kindFingerprint
	case base == "checkpoint" && bytes.HasPrefix(head, []byte("model_checkpoint_path:")):
		return kindState
	}
	return kindNone
}

// Analyze implements analyzer.Analyzer.
func (CheckpointAnalyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	head := make([]byte, min(int64(analyzer.HeadSize), in.Size))
	n, _ := in.R.ReadAt(head, 0)
	switch kindOf(in.Name, head[:n]) {
	case kindIndex:
		out.Format = "tf-checkpoint-index"
		return bundleIndex(ctx, in, out)
	case kindData:
		out.Format = "tf-checkpoint-data"
		m := dataShardName.FindStringSubmatch(path.Base(in.Name))
		summaryf(out, "TensorBundle data shard %s of %s: %d bytes of raw tensor data (not read); TensorFlow reads only the byte ranges its .index names, and never executes them", m[1], m[2], in.Size)
		return nil
	case kindFingerprint:
		out.Format = "tf-fingerprint"
		return fingerprint(in, out)
	case kindState:
		out.Format = "tf-checkpoint-state"
		summaryf(out, "TensorFlow checkpoint state (a text list of checkpoint paths); nothing in it runs")
		return nil
	}
	return errors.New("not a TensorFlow checkpoint file")
}

func summaryf(out *analyzer.Output, format string, args ...any) {
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: fmt.Sprintf(format, args...)})
}

// bundleIndex checks the table footer and counts the entries of the index.
func bundleIndex(ctx context.Context, in analyzer.Input, out *analyzer.Output) error {
	if in.Size < footerLen {
		return fmt.Errorf("TensorBundle index of %d bytes has no table footer", in.Size)
	}
	footer := make([]byte, footerLen)
	if _, err := in.R.ReadAt(footer, in.Size-footerLen); err != nil {
		return fmt.Errorf("read table footer: %w", err)
	}
	if binary.LittleEndian.Uint64(footer[40:]) != tableMagic {
		return errors.New("not a TensorBundle index: no table magic number at the end")
	}
	b := footer[:40]
	var handles [4]uint64 // metaindex offset, size; index offset, size
	for i := range handles {
		v, m := protowire.ConsumeVarint(b)
		if m < 0 {
			return errors.New("TensorBundle index: bad block handle in the footer")
		}
		handles[i], b = v, b[m:]
	}
	limit := uint64(in.Size - footerLen)
	idx, err := readBlock(in, handles[2], handles[3], limit, maxIndexBlock)
	if err != nil {
		return fmt.Errorf("TensorBundle index block: %w", err)
	}
	var st bundleStats
	if idx == nil {
		summaryf(out, "TensorBundle index with a compressed index block (entries not counted)")
		return nil
	}
	read := uint64(0)
	err = blockEntries(idx, func(_, value []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		off, m := protowire.ConsumeVarint(value)
		size, m2 := protowire.ConsumeVarint(value[max(m, 0):])
		if m < 0 || m2 < 0 {
			return errors.New("bad block handle in the index block")
		}
		if read += size; read > maxIndexRead {
			return fmt.Errorf("more than %d bytes of index entries: the rest was not counted", maxIndexRead)
		}
		data, err := readBlock(in, off, size, limit, maxDataBlock)
		if err != nil {
			return err
		}
		if data == nil {
			st.compressed++
			return nil
		}
		return blockEntries(data, st.entry)
	})
	msg := fmt.Sprintf("TensorBundle index: %d %s, %d bytes of tensor data in %d %s",
		st.tensors, plural(st.tensors, "tensor"), st.bytes, st.shards, plural(st.shards, "shard"))
	if st.compressed > 0 {
		msg += fmt.Sprintf(" (%d compressed blocks not counted)", st.compressed)
	}
	summaryf(out, "%s; the data shards are raw bytes, never executed", msg)
	if err != nil {
		return fmt.Errorf("TensorBundle index: %w", err)
	}
	return nil
}

type bundleStats struct {
	tensors, shards, compressed int
	bytes                       int64
	headerSeen                  bool
}

// entry counts one table entry: the header (empty key) or a tensor.
func (st *bundleStats) entry(key, value []byte) error {
	if st.tensors >= maxBundleCount {
		return fmt.Errorf("more than %d entries", maxBundleCount)
	}
	if len(key) == 0 && !st.headerSeen {
		st.headerSeen = true
		for len(value) > 0 {
			num, typ, n := protowire.ConsumeTag(value)
			if n < 0 {
				return errors.New("bad BundleHeaderProto")
			}
			if num == headerNumShards && typ == protowire.VarintType {
				v, _ := protowire.ConsumeVarint(value[n:])
				st.shards = int(min(v, 1<<20))
			}
			m := protowire.ConsumeFieldValue(num, typ, value[n:])
			if m < 0 {
				return errors.New("bad BundleHeaderProto")
			}
			value = value[n+m:]
		}
		return nil
	}
	st.tensors++
	for len(value) > 0 {
		num, typ, n := protowire.ConsumeTag(value)
		if n < 0 {
			return fmt.Errorf("bad BundleEntryProto for %q", key)
		}
		if typ == protowire.VarintType && (num == entrySize || num == entryShardID) {
			v, _ := protowire.ConsumeVarint(value[n:])
			if num == entrySize {
				st.bytes += int64(min(v, 1<<62))
			}
		}
		m := protowire.ConsumeFieldValue(num, typ, value[n:])
		if m < 0 {
			return fmt.Errorf("bad BundleEntryProto for %q", key)
		}
		value = value[n+m:]
	}
	return nil
}

// readBlock reads a table block and its trailer; nil means the block is
// compressed (TensorBundle writes its index uncompressed; other tables may
// use Snappy).
func readBlock(in analyzer.Input, off, size, limit uint64, maxSize int) ([]byte, error) {
	if size > uint64(maxSize) {
		return nil, fmt.Errorf("block of %d bytes (cap %d)", size, maxSize)
	}
	if off > limit || size+blockTrailer > limit-off {
		return nil, fmt.Errorf("block at %d+%d lies outside the table", off, size)
	}
	b := make([]byte, size+1)
	if _, err := in.R.ReadAt(b, int64(off)); err != nil {
		return nil, fmt.Errorf("read block at %d: %w", off, err)
	}
	if b[size] != 0 {
		return nil, nil
	}
	return b[:size], nil
}

// blockEntries calls fn for each key/value of a table block (prefix-compressed
// keys; a restart array and its count at the end).
func blockEntries(b []byte, fn func(key, value []byte) error) error {
	if len(b) < 4 {
		return errors.New("block too short")
	}
	restarts := uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if restarts > uint64(len(b)-4)/4 {
		return errors.New("bad restart count")
	}
	data := b[:uint64(len(b))-4-4*restarts]
	var key []byte
	for len(data) > 0 {
		var h [3]uint64
		for i := range h {
			v, m := protowire.ConsumeVarint(data)
			if m < 0 {
				return errors.New("bad entry header")
			}
			h[i], data = v, data[m:]
		}
		shared, unshared, vlen := h[0], h[1], h[2]
		if shared > uint64(len(key)) || unshared > uint64(len(data)) || vlen > uint64(len(data))-unshared {
			return errors.New("entry overruns its block")
		}
		key = append(key[:shared], data[:unshared]...)
		if err := fn(key, data[unshared:unshared+vlen]); err != nil {
			return err
		}
		data = data[unshared+vlen:]
	}
	return nil
}

// looksLikeFingerprint: fields 1-5 are varint hashes, field 6 a VersionDef.
// A head cut inside its last field still looks like one; a whole file must
// decode to the end (strict).
func looksLikeFingerprint(head []byte, strict bool) bool {
	if len(head) == 0 {
		return false
	}
	for b := head; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		switch {
		case num >= 1 && num <= 5 && typ == protowire.VarintType:
		case num == fingerprintVersion && typ == protowire.BytesType:
		default:
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return !strict && len(head) >= analyzer.HeadSize // cut by the head
		}
		b = b[n+m:]
	}
	return true
}

func fingerprint(in analyzer.Input, out *analyzer.Output) error {
	if in.Size > 1<<20 {
		return fmt.Errorf("fingerprint.pb of %d bytes: a FingerprintDef is a few dozen bytes", in.Size)
	}
	b := make([]byte, in.Size)
	if _, err := in.R.ReadAt(b, 0); err != nil {
		return fmt.Errorf("read fingerprint: %w", err)
	}
	if !looksLikeFingerprint(b, true) {
		return errors.New("fingerprint.pb is not a FingerprintDef")
	}
	summaryf(out, "SavedModel fingerprint (hashes of saved_model.pb and its checkpoint); nothing in it runs")
	return nil
}
