package scan

import (
	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/arrow"
	"github.com/modelgate/modelgate/internal/formats/compress"
	"github.com/modelgate/modelgate/internal/formats/coreml"
	"github.com/modelgate/modelgate/internal/formats/flaxmsgpack"
	"github.com/modelgate/modelgate/internal/formats/gguf"
	"github.com/modelgate/modelgate/internal/formats/hfconfig"
	"github.com/modelgate/modelgate/internal/formats/joblib"
	"github.com/modelgate/modelgate/internal/formats/keras"
	"github.com/modelgate/modelgate/internal/formats/native"
	"github.com/modelgate/modelgate/internal/formats/numpy"
	"github.com/modelgate/modelgate/internal/formats/onnx"
	"github.com/modelgate/modelgate/internal/formats/parquet"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/formats/pytorch"
	"github.com/modelgate/modelgate/internal/formats/safetensors"
	"github.com/modelgate/modelgate/internal/formats/sentencepiece"
	"github.com/modelgate/modelgate/internal/formats/sevenzip"
	"github.com/modelgate/modelgate/internal/formats/tarfile"
	"github.com/modelgate/modelgate/internal/formats/tensordata"
	"github.com/modelgate/modelgate/internal/formats/tensorflow"
	"github.com/modelgate/modelgate/internal/formats/tflite"
	"github.com/modelgate/modelgate/internal/formats/ziparchive"
)

// Registry lists every analyser, in the order Match is tried: formats with
// magic bytes first, the raw pickle last (protocol 0 pickles have no magic
// and are recognised by decoding their first opcodes).
//
// To add a format: write internal/formats/NAME with a type implementing
// analyzer.Analyzer, and add it here.
func Registry() []analyzer.Analyzer {
	return []analyzer.Analyzer{
		// safetensors first: a valid header length can look like a zlib
		// header or a PROTO opcode.
		safetensors.Analyzer{},
		compress.Analyzer{},
		ziparchive.Analyzer{},
		hfconfig.Analyzer{},
		tarfile.Analyzer{},
		sevenzip.Analyzer{},
		native.Analyzer{}, // ELF, PE, Mach-O: magic bytes
		numpy.Analyzer{},
		gguf.Analyzer{},
		keras.H5Analyzer{}, // after tarfile: a tar whose first member is .h5 has the signature at 512
		joblib.ZFileAnalyzer{},
		pytorch.LegacyAnalyzer{},
		// Core ML has no magic: a .mlmodel name and a first field that is
		// specificationVersion (byte 0x08, no pickle opcode). Before ONNX,
		// whose sniffer accepts a small varint 1 followed by fields it does
		// not know; after every analyser with magic bytes.
		coreml.Analyzer{},
		onnx.Analyzer{},
		tensorflow.SavedModelAnalyzer{}, // saved_model.pb
		tensorflow.GraphDefAnalyzer{},   // frozen *.pb
		tensorflow.CheckpointAnalyzer{}, // variables/ index and data shards, fingerprint.pb, checkpoint
		tflite.Analyzer{},
		// Datasets: "PAR1"/"PARE" at byte 0; "ARROW1", or a stream whose
		// first message checks out as a flatbuffer Schema message.
		parquet.Analyzer{},
		arrow.Analyzer{},
		// Both before the raw pickle and only on strict content checks
		// (the first bytes of either are never pickle opcodes that load),
		// so a pickle or zip named tokenizer.model or flax_model.msgpack
		// falls through to the analysers above or to the pickle.
		sentencepiece.Analyzer{},
		flaxmsgpack.Analyzer{}, // also needs a .msgpack name
		// An ML program's weight.bin: a MIL blob storage header and a .bin
		// name; before tensordata, which takes .bin files by name.
		coreml.WeightsAnalyzer{},
		picklefile.Analyzer{},
		// Last, by name only: raw tensor bytes that a sibling model
		// references (ONNX external data, OpenVINO .bin, TF.js shards).
		// Every content analyser gets the file first, so a pickle named
		// model.onnx_data is still a pickle.
		tensordata.Analyzer{},
	}
}
