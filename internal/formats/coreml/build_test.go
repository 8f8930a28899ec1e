package coreml_test

import (
	"bytes"
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// msg builds protobuf messages field by field, in the order coremltools
// serialises them (field number order when the caller writes them so).
// No Core ML writer can run here (coremltools is neither a Debian package
// nor reachable on PyPI from this machine), so the fixtures are written by
// these builders from the field numbers of apple/coremltools
// mlmodel/format/*.proto.
type msg []byte

func (m msg) varint(num protowire.Number, v uint64) msg {
	return protowire.AppendVarint(protowire.AppendTag(m, num, protowire.VarintType), v)
}

func (m msg) bytes(num protowire.Number, b []byte) msg {
	return protowire.AppendBytes(protowire.AppendTag(m, num, protowire.BytesType), b)
}

func (m msg) str(num protowire.Number, s string) msg { return m.bytes(num, []byte(s)) }

func (m msg) fixed64(num protowire.Number, v uint64) msg {
	return protowire.AppendFixed64(protowire.AppendTag(m, num, protowire.Fixed64Type), v)
}

// Field numbers, from Model.proto, FeatureTypes.proto, NeuralNetwork.proto,
// CustomModel.proto, LinkedModel.proto, Parameters.proto, Scaler.proto and
// MIL.proto.
const (
	fModelSpec, fModelDesc, fModelPipeline, fModelNN, fModelProgram, fModelCustom, fModelLinked, fModelScaler = 1, 2, 202, 500, 502, 555, 556, 604
	fDescInput, fDescOutput, fDescPredicted, fDescMetadata                                                    = 1, 10, 11, 100
	fFeatName, fFeatShort, fFeatType                                                                          = 1, 2, 3
	fTypeMultiArray, fArrayShape, fArrayDataType                                                              = 5, 1, 2
	fMetaShort, fMetaVersion, fMetaAuthor, fMetaLicense, fMetaUser                                            = 1, 2, 3, 4, 100
	fNNLayers                                                                                                 = 1
	fLayerName, fLayerInput, fLayerOutput, fLayerActivation, fLayerInner, fLayerCustom, fLayerBranch          = 1, 2, 3, 130, 140, 500, 605
	fActReLU                                                                                                  = 10
	fInnerIn, fInnerOut, fInnerHasBias, fInnerWeights, fInnerBias                                             = 1, 2, 10, 20, 21
	fWeightFloat                                                                                              = 1
	fCustomClass, fCustomWeights, fCustomParams, fCustomDescription                                           = 10, 20, 30, 40
	fParamString                                                                                              = 20
	fPipelineModels, fPipelineNames                                                                           = 1, 2
	fScalerShift, fScalerScale                                                                                = 1, 2
	fLinkedFile, fLinkedName, fLinkedPath, fStringDefault                                                     = 1, 1, 2, 1
	fBranchIf                                                                                                 = 1
	// MIL.proto
	fProgVersion, fProgFunctions              = 1, 2
	fFuncInputs, fFuncOpset, fFuncBlocks      = 1, 2, 3
	fBlockOutputs, fBlockOps                  = 2, 3
	fOpType, fOpInputs, fOpOutputs, fOpAttrs  = 1, 2, 3, 5
	fNVTName, fNVTType                        = 1, 2
	fVTTensor, fTTDataType, fTTRank, fTTDims  = 1, 1, 2, 3
	fDimConstant, fConstSize                  = 1, 1
	fValueType, fValueImmediate, fValueBlob   = 2, 3, 5
	fImmTensor, fTensorStrings, fStringValues = 1, 4, 1
	fBlobFile, fBlobOffset                    = 1, 2
	fArgBindings, fBindName                   = 1, 1
	milFloat16, milString                     = 10, 2
	arrayFloat32                              = 65568 // ArrayFeatureType.FLOAT32
)

func entry(k string, v []byte) msg { return msg{}.str(1, k).bytes(2, v) }

func packedFloats(n int) []byte {
	var b []byte
	for i := range n {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)/float32(n)))
	}
	return b
}

// feature is a FeatureDescription of a float32 multiarray of shape [n].
func feature(name string, n uint64) msg {
	arr := msg{}.bytes(fArrayShape, protowire.AppendVarint(nil, n)).varint(fArrayDataType, arrayFloat32)
	return msg{}.str(fFeatName, name).bytes(fFeatType, msg{}.bytes(fTypeMultiArray, arr))
}

func description(in, out string) msg {
	meta := msg{}.str(fMetaShort, "modelgate test fixture").str(fMetaVersion, "1.0").str(fMetaAuthor, "modelgate").str(fMetaLicense, "MIT").
		bytes(fMetaUser, entry("com.github.apple.coremltools.version", []byte("8.0")))
	return msg{}.bytes(fDescInput, feature(in, 4)).bytes(fDescOutput, feature(out, 3)).bytes(fDescMetadata, meta)
}

// innerProduct is a 4→3 fully connected layer with float weights of
// weights floats.
func innerProduct(name, in, out string, weights int) msg {
	params := msg{}.varint(fInnerIn, 4).varint(fInnerOut, 3).varint(fInnerHasBias, 1).
		bytes(fInnerWeights, msg{}.bytes(fWeightFloat, packedFloats(weights))).
		bytes(fInnerBias, msg{}.bytes(fWeightFloat, packedFloats(3)))
	return msg{}.str(fLayerName, name).str(fLayerInput, in).str(fLayerOutput, out).bytes(fLayerInner, params)
}

func relu(name, in, out string) msg {
	return msg{}.str(fLayerName, name).str(fLayerInput, in).str(fLayerOutput, out).bytes(fLayerActivation, msg{}.bytes(fActReLU, nil))
}

func customLayer(name, in, out, class string) msg {
	params := msg{}.str(fCustomClass, class).bytes(fCustomWeights, msg{}.bytes(fWeightFloat, packedFloats(4))).
		bytes(fCustomParams, entry("mode", msg{}.str(fParamString, "fast"))).str(fCustomDescription, "a layer the app implements")
	return msg{}.str(fLayerName, name).str(fLayerInput, in).str(fLayerOutput, out).bytes(fLayerCustom, params)
}

func network(layers ...msg) msg {
	nn := msg{}
	for _, l := range layers {
		nn = nn.bytes(fNNLayers, l)
	}
	return nn
}

func model(spec uint64, desc msg, typ protowire.Number, body msg) msg {
	return msg{}.varint(fModelSpec, spec).bytes(fModelDesc, desc).bytes(typ, body)
}

// neuralNetwork is x → innerProduct(weights floats) → relu → y.
func neuralNetwork(weights int) msg {
	return model(4, description("x", "y"), fModelNN, network(innerProduct("dense", "x", "h", weights), relu("relu", "h", "y")))
}

func pipeline() msg {
	scaler := msg{}.bytes(fScalerShift, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.5))).
		bytes(fScalerScale, binary.LittleEndian.AppendUint64(nil, math.Float64bits(2)))
	first := model(4, description("x", "h"), fModelNN, network(innerProduct("dense", "x", "h", 12)))
	second := model(4, description("h", "y"), fModelScaler, scaler)
	p := msg{}.bytes(fPipelineModels, first).bytes(fPipelineModels, second).str(fPipelineNames, "features").str(fPipelineNames, "scale")
	return model(4, description("x", "y"), fModelPipeline, p)
}

func linked(name, path string) msg {
	file := msg{}.bytes(fLinkedName, msg{}.str(fStringDefault, name)).bytes(fLinkedPath, msg{}.str(fStringDefault, path))
	return model(4, description("x", "y"), fModelLinked, msg{}.bytes(fLinkedFile, file))
}

func customModel(class string) msg {
	body := msg{}.str(fCustomClass, class).bytes(fCustomParams, entry("threshold", msg{}.fixed64(10, math.Float64bits(0.5)))).
		str(fCustomDescription, "a model the app implements")
	return model(4, description("x", "y"), fModelCustom, body)
}

// ---- ML program ------------------------------------------------------------------

func tensorType(dtype uint64, dims ...uint64) msg {
	tt := msg{}.varint(fTTDataType, dtype).varint(fTTRank, uint64(len(dims)))
	for _, d := range dims {
		tt = tt.bytes(fTTDims, msg{}.bytes(fDimConstant, msg{}.varint(fConstSize, d)))
	}
	return msg{}.bytes(fVTTensor, tt)
}

func named(name string, typ msg) msg { return msg{}.str(fNVTName, name).bytes(fNVTType, typ) }

func stringValue(s string) msg {
	tv := msg{}.bytes(fTensorStrings, msg{}.str(fStringValues, s))
	return msg{}.bytes(fValueType, tensorType(milString)).bytes(fValueImmediate, msg{}.bytes(fImmTensor, tv))
}

// constOp is a const whose value is the blob at offset of file.
func constOp(name string, typ msg, file string, offset uint64) msg {
	val := msg{}.bytes(fValueType, typ).bytes(fValueBlob, msg{}.str(fBlobFile, file).varint(fBlobOffset, offset))
	return msg{}.str(fOpType, "const").bytes(fOpOutputs, named(name, typ)).
		bytes(fOpAttrs, entry("name", stringValue(name))).bytes(fOpAttrs, entry("val", val))
}

func op(typ, out string, outType msg, args ...string) msg {
	o := msg{}.str(fOpType, typ)
	for i := 0; i+1 < len(args); i += 2 {
		o = o.bytes(fOpInputs, entry(args[i], msg{}.bytes(fArgBindings, msg{}.str(fBindName, args[i+1]))))
	}
	return o.bytes(fOpOutputs, named(out, outType)).bytes(fOpAttrs, entry("name", stringValue(out)))
}

const weightFile = "@model_path/weights/weight.bin"

// mlProgram is y = relu(linear(x, W, b)) with W (3×4) and b (3) float16 in
// file at the metadata offsets 64 and 192 (see weights).
func mlProgram(file string) msg {
	x, h := tensorType(milFloat16, 1, 4), tensorType(milFloat16, 1, 3)
	block := msg{}.str(fBlockOutputs, "y").
		bytes(fBlockOps, constOp("W", tensorType(milFloat16, 3, 4), file, 64)).
		bytes(fBlockOps, constOp("b", tensorType(milFloat16, 3), file, 192)).
		bytes(fBlockOps, op("linear", "h", h, "x", "x", "weight", "W", "bias", "b")).
		bytes(fBlockOps, op("relu", "y", h, "x", "h"))
	fn := msg{}.bytes(fFuncInputs, named("x", x)).str(fFuncOpset, "CoreML5").bytes(fFuncBlocks, entry("CoreML5", block))
	prog := msg{}.varint(fProgVersion, 1).bytes(fProgFunctions, entry("main", fn))
	return model(7, description("x", "y"), fModelProgram, prog)
}

// weights is a MIL blob storage v2 file with W (24 bytes of float16) at
// metadata offset 64 and b (6 bytes) at 192, as StorageWriter lays them out.
func weights() []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 64)
	le.PutUint32(hdr, 2)
	le.PutUint32(hdr[4:], 2)
	b.Write(hdr)
	blob := func(dtype uint32, data []byte) {
		md := make([]byte, 64)
		le.PutUint32(md, 0xDEADBEEF)
		le.PutUint32(md[4:], dtype)
		le.PutUint64(md[8:], uint64(len(data)))
		le.PutUint64(md[16:], uint64(b.Len()+64))
		b.Write(md)
		b.Write(data)
	}
	blob(1, bytes.Repeat([]byte{0x00, 0x3c}, 12)) // twelve 1.0 in float16
	for b.Len()%64 != 0 {
		b.WriteByte(0)
	}
	blob(1, bytes.Repeat([]byte{0x00, 0x38}, 3)) // three 0.5
	return b.Bytes()
}

// mlpackageManifest is an .mlpackage's Manifest.json as coremltools writes it.
const mlpackageManifest = `{
    "fileFormatVersion": "1.0.0",
    "itemInfoEntries": {
        "5B3D0E4A-8C7F-4A0E-9D7C-2F1E6B8A9C01": {
            "author": "com.apple.CoreML",
            "description": "CoreML Model Weights",
            "name": "weights",
            "path": "com.apple.CoreML/weights"
        },
        "9E2C4B1D-3A6F-4F8E-B5D2-7C0A1E3F5B02": {
            "author": "com.apple.CoreML",
            "description": "CoreML Model Specification",
            "name": "model.mlmodel",
            "path": "com.apple.CoreML/model.mlmodel"
        }
    },
    "rootModelIdentifier": "9E2C4B1D-3A6F-4F8E-B5D2-7C0A1E3F5B02"
}
`

// evilPickle is a protocol-2 pickle calling posix.system("touch marker").
func evilPickle() []byte {
	b := []byte("\x80\x02cposix\nsystem\nX")
	b = binary.LittleEndian.AppendUint32(b, uint32(len("touch marker")))
	return append(append(b, "touch marker"...), "\x85R."...)
}

const pkgDir = "benign/MLProgram.mlpackage/"

// fixtures are the files committed under testdata/ (regenerate with
// go test ./internal/formats/coreml -run TestFixturesAreCurrent -update).
func fixtures() map[string][]byte {
	nn := neuralNetwork(12)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	withMetaPickle := model(4, msg(description("x", "y")).bytes(fDescMetadata, msg{}.bytes(fMetaUser, entry("payload", evilPickle()))),
		fModelNN, network(relu("relu", "x", "y")))
	return map[string][]byte{
		"benign/neuralnetwork.mlmodel":                      nn,
		"benign/pipeline.mlmodel":                           pipeline(),
		"benign/linked-model.mlmodel":                       linked("FeatureExtractor.mlmodelc", "$BUNDLE_MAIN:."),
		pkgDir + "Manifest.json":                            []byte(mlpackageManifest),
		pkgDir + "Data/com.apple.CoreML/model.mlmodel":      mlProgram(weightFile),
		pkgDir + "Data/com.apple.CoreML/weights/weight.bin": weights(),
		"suspicious/custom-layer.mlmodel":                   model(4, description("x", "y"), fModelNN, network(innerProduct("dense", "x", "h", 12), customLayer("mystery", "h", "y", "AAPLEvilLayer"))),
		"suspicious/custom-layer-in-branch.mlmodel":         model(4, description("x", "y"), fModelNN, network(msg{}.str(fLayerName, "if").str(fLayerInput, "x").bytes(fLayerBranch, msg{}.bytes(fBranchIf, network(customLayer("hidden", "x", "y", "HiddenLayer")))))),
		"suspicious/custom-model.mlmodel":                   customModel("AAPLCustomModel"),
		"suspicious/linked-traversal.mlmodel":               linked("../../Library/evil.mlmodelc", "/tmp:../.."),
		"suspicious/weight-path-traversal.mlmodel":          mlProgram("@model_path/../../../etc/passwd"),
		"malicious/model.mlmodel":                           evilPickle(),
		"malicious/unknown-field-pickle.mlmodel":            msg(nn).bytes(9999, evilPickle()),
		"malicious/metadata-pickle.mlmodel":                 withMetaPickle,
		"malicious/appended-pickle.mlmodel":                 cat(nn, evilPickle()),
		"malformed/truncated.mlmodel":                       nn[:len(nn)/2],
		"malformed/trailing-garbage.mlmodel":                cat(nn, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"malformed/weight.bin":                              weights()[:200],
	}
}
