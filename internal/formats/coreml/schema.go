package coreml

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// kind is how a field's value is read.
type kind uint8

const (
	kText    kind = iota // string: read (up to maxText), sniffed for a pickle or zip
	kBytes               // bytes: weights and other raw data, skipped by length and never read
	kMessage             // a message whose schema is below: walked field by field
	kOpaque              // a message not modelled here (layer parameters, feature types, trees):
	// its tags and lengths are checked one level deep, its values skipped
	kVarint  // int32, int64, uint64, bool, enum
	kFixed64 // double
)

func (k kind) wire() protowire.Type {
	switch k {
	case kVarint:
		return protowire.VarintType
	case kFixed64:
		return protowire.Fixed64Type
	}
	return protowire.BytesType
}

type field struct {
	name string
	kind kind
	msg  *message
}

type message struct {
	name   string
	fields map[protowire.Number]field
}

func text(name string) field            { return field{name, kText, nil} }
func varint(name string) field          { return field{name, kVarint, nil} }
func opaque(name string) field          { return field{name, kOpaque, nil} }
func sub(name string, m *message) field { return field{name, kMessage, m} }

// The schema, from apple/coremltools mlmodel/format/*.proto (Model.proto of
// Core ML 8 / specification version 9, NeuralNetwork.proto, MIL.proto,
// LinkedModel.proto, CustomModel.proto, Parameters.proto). Only the
// messages that can name code or files, or that lead to them, are modelled
// field by field; every other message is kOpaque. Unknown fields are
// reported only in modelled messages, so a real model of a type not
// modelled here never trips on a field this table lacks.
var (
	modelMsg       = &message{name: "Model"}
	neuralNetwork  = &message{name: "NeuralNetwork"}
	milValue       = &message{name: "MILSpec.Value"}
	milValueType   = &message{name: "MILSpec.ValueType"}
	milBlock       = &message{name: "MILSpec.Block"}
	featureDesc    = &message{"FeatureDescription", map[protowire.Number]field{1: text("name"), 2: text("shortDescription"), 3: opaque("type")}}
	metadataEntry  = &message{"Metadata.UserDefinedEntry", map[protowire.Number]field{1: text("key"), 2: text("value")}}
	metadataMsg    = &message{"Metadata", map[protowire.Number]field{1: text("shortDescription"), 2: text("versionString"), 3: text("author"), 4: text("license"), 100: sub("userDefined", metadataEntry)}}
	functionDesc   = &message{"FunctionDescription", map[protowire.Number]field{1: text("name"), 2: sub("input", featureDesc), 3: sub("output", featureDesc), 6: sub("state", featureDesc), 4: text("predictedFeatureName"), 5: text("predictedProbabilitiesName")}}
	modelDesc      = &message{"ModelDescription", map[protowire.Number]field{20: sub("functions", functionDesc), 21: text("defaultFunctionName"), 100: sub("metadata", metadataMsg), 1: sub("input", featureDesc), 10: sub("output", featureDesc), 13: sub("state", featureDesc), 11: text("predictedFeatureName"), 12: text("predictedProbabilitiesName"), 50: sub("trainingInput", featureDesc)}}
	pipelineMsg    = &message{"Pipeline", map[protowire.Number]field{1: sub("models", modelMsg), 2: text("names")}}
	pipelineHolder = &message{"PipelineClassifier", map[protowire.Number]field{1: sub("pipeline", pipelineMsg)}}
	serializedMsg  = &message{"SerializedModel", map[protowire.Number]field{1: text("identifier"), 2: {"model", kBytes, nil}}}

	// NeuralNetwork.proto. Branch and loop layers hold whole networks,
	// where custom layers can sit too.
	nnClassifier = &message{name: "NeuralNetworkClassifier"}
	nnLayer      = &message{name: "NeuralNetworkLayer"}
	branchLayer  = &message{"BranchLayerParams", map[protowire.Number]field{1: sub("ifBranch", neuralNetwork), 2: sub("elseBranch", neuralNetwork)}}
	loopLayer    = &message{"LoopLayerParams", map[protowire.Number]field{1: varint("maxLoopIterations"), 2: text("conditionVar"), 3: sub("conditionNetwork", neuralNetwork), 4: sub("bodyNetwork", neuralNetwork)}}
	customValue  = &message{"CustomLayerParams.CustomLayerParamValue", map[protowire.Number]field{10: {"doubleValue", kFixed64, nil}, 20: text("stringValue"), 30: varint("intValue"), 40: varint("longValue"), 50: varint("boolValue")}}
	customEntry  = &message{"CustomLayerParams.ParametersEntry", map[protowire.Number]field{1: text("key"), 2: sub("value", customValue)}}
	customLayer  = &message{"CustomLayerParams", map[protowire.Number]field{10: text("className"), 20: opaque("weights"), 30: sub("parameters", customEntry), 40: text("description")}}

	// CustomModel.proto.
	customModelValue = &message{"CustomModel.CustomModelParamValue", map[protowire.Number]field{10: {"doubleValue", kFixed64, nil}, 20: text("stringValue"), 30: varint("intValue"), 40: varint("longValue"), 50: varint("boolValue"), 60: {"bytesValue", kBytes, nil}}}
	customModelEntry = &message{"CustomModel.ParametersEntry", map[protowire.Number]field{1: text("key"), 2: sub("value", customModelValue)}}
	customModel      = &message{"CustomModel", map[protowire.Number]field{10: text("className"), 30: sub("parameters", customModelEntry), 40: text("description")}}

	// LinkedModel.proto and Parameters.proto.
	stringParam     = &message{"StringParameter", map[protowire.Number]field{1: text("defaultValue")}}
	linkedModelFile = &message{"LinkedModelFile", map[protowire.Number]field{1: sub("linkedModelFileName", stringParam), 2: sub("linkedModelSearchPath", stringParam)}}
	linkedModel     = &message{"LinkedModel", map[protowire.Number]field{1: sub("linkedModelFile", linkedModelFile)}}

	// MIL.proto (package CoreML.Specification.MILSpec). Values can sit in
	// types (TensorType.attributes), so types are modelled too.
	valueEntry     = &message{"MILSpec.ValueEntry", map[protowire.Number]field{1: text("key"), 2: sub("value", milValue)}}
	namedValueType = &message{"MILSpec.NamedValueType", map[protowire.Number]field{1: text("name"), 2: sub("type", milValueType)}}
	tensorType     = &message{"MILSpec.TensorType", map[protowire.Number]field{1: varint("dataType"), 2: varint("rank"), 3: opaque("dimensions"), 4: sub("attributes", valueEntry)}}
	tupleType      = &message{"MILSpec.TupleType", map[protowire.Number]field{1: sub("types", milValueType)}}
	listType       = &message{"MILSpec.ListType", map[protowire.Number]field{1: sub("type", milValueType), 2: opaque("length")}}
	dictType       = &message{"MILSpec.DictionaryType", map[protowire.Number]field{1: sub("keyType", milValueType), 2: sub("valueType", milValueType)}}
	stateType      = &message{"MILSpec.StateType", map[protowire.Number]field{1: sub("wrappedType", milValueType)}}
	blobFileValue  = &message{"MILSpec.Value.BlobFileValue", map[protowire.Number]field{1: text("fileName"), 2: varint("offset")}}
	repeatedString = &message{"MILSpec.TensorValue.RepeatedStrings", map[protowire.Number]field{1: text("values")}}
	tensorValue    = &message{"MILSpec.TensorValue", map[protowire.Number]field{1: opaque("floats"), 2: opaque("ints"), 3: opaque("bools"), 4: sub("strings", repeatedString), 5: opaque("longInts"), 6: opaque("doubles"), 7: opaque("bytes")}}
	tupleValue     = &message{"MILSpec.TupleValue", map[protowire.Number]field{1: sub("values", milValue)}}
	listValue      = &message{"MILSpec.ListValue", map[protowire.Number]field{1: sub("values", milValue)}}
	keyValuePair   = &message{"MILSpec.DictionaryValue.KeyValuePair", map[protowire.Number]field{1: sub("key", milValue), 2: sub("value", milValue)}}
	dictValue      = &message{"MILSpec.DictionaryValue", map[protowire.Number]field{1: sub("values", keyValuePair)}}
	immediateValue = &message{"MILSpec.Value.ImmediateValue", map[protowire.Number]field{1: sub("tensor", tensorValue), 2: sub("tuple", tupleValue), 3: sub("list", listValue), 4: sub("dictionary", dictValue)}}
	binding        = &message{"MILSpec.Argument.Binding", map[protowire.Number]field{1: text("name"), 2: sub("value", milValue)}}
	argument       = &message{"MILSpec.Argument", map[protowire.Number]field{1: sub("arguments", binding)}}
	argumentEntry  = &message{"MILSpec.Operation.InputsEntry", map[protowire.Number]field{1: text("key"), 2: sub("value", argument)}}
	operation      = &message{"MILSpec.Operation", map[protowire.Number]field{1: text("type"), 2: sub("inputs", argumentEntry), 3: sub("outputs", namedValueType), 4: sub("blocks", milBlock), 5: sub("attributes", valueEntry)}}
	blockEntry     = &message{"MILSpec.Function.BlockSpecializationsEntry", map[protowire.Number]field{1: text("key"), 2: sub("value", milBlock)}}
	milFunction    = &message{"MILSpec.Function", map[protowire.Number]field{1: sub("inputs", namedValueType), 2: text("opset"), 3: sub("block_specializations", blockEntry), 4: sub("attributes", valueEntry)}}
	functionEntry  = &message{"MILSpec.Program.FunctionsEntry", map[protowire.Number]field{1: text("key"), 2: sub("value", milFunction)}}
	milProgram     = &message{"MILSpec.Program", map[protowire.Number]field{1: varint("version"), 2: sub("functions", functionEntry), 3: text("docString"), 4: sub("attributes", valueEntry)}}
)

// modelTypes are the fields of Model's oneof Type.
var modelTypes = map[protowire.Number]string{
	200: "pipelineClassifier", 201: "pipelineRegressor", 202: "pipeline",
	300: "glmRegressor", 301: "supportVectorRegressor", 302: "treeEnsembleRegressor", 303: "neuralNetworkRegressor", 304: "bayesianProbitRegressor",
	400: "glmClassifier", 401: "supportVectorClassifier", 402: "treeEnsembleClassifier", 403: "neuralNetworkClassifier", 404: "kNearestNeighborsClassifier",
	500: "neuralNetwork", 501: "itemSimilarityRecommender", 502: "mlProgram",
	555: "customModel", 556: "linkedModel", 560: "classConfidenceThresholding",
	600: "oneHotEncoder", 601: "imputer", 602: "featureVectorizer", 603: "dictVectorizer", 604: "scaler",
	606: "categoricalMapping", 607: "normalizer", 609: "arrayFeatureExtractor", 610: "nonMaximumSuppression",
	900:  "identity",
	2000: "textClassifier", 2001: "wordTagger", 2002: "visionFeaturePrint", 2003: "soundAnalysisPreprocessing",
	2004: "gazetteer", 2005: "wordEmbedding", 2006: "audioFeaturePrint",
	3000: "serializedModel",
}

// layerTypes are the fields of NeuralNetworkLayer's oneof layer
// (NeuralNetwork.proto, up to convolution3d = 1471).
var layerTypes = []protowire.Number{
	100, 120, 130, 140, 150, 160, 165, 170, 175, 180, 190, 200, 210, 211, 212, 220, 230, 231, 240, 245, 250, 260, 261,
	270, 280, 290, 300, 301, 310, 320, 330, 340, 345, 350, 400, 410, 420, 430, 500, 600, 605, 615, 620, 625, 635, 640,
	660, 665, 670, 680, 685, 700, 710, 715, 720, 730, 735, 740, 750, 755, 760, 770, 775, 780, 790, 795, 815, 820, 825,
	827, 830, 832, 840, 845, 850, 855, 865, 870, 875, 880, 885, 890, 895, 900, 905, 920, 925, 930, 935, 940, 945, 950,
	952, 954, 960, 965, 975, 980, 985, 995, 1000, 1005, 1015, 1020, 1025, 1040, 1045, 1065, 1070, 1080, 1085, 1090,
	1100, 1105, 1110, 1120, 1125, 1130, 1135, 1140, 1145, 1150, 1155, 1170, 1175, 1180, 1190, 1195, 1200, 1210, 1215,
	1220, 1230, 1250, 1255, 1260, 1265, 1270, 1275, 1280, 1285, 1290, 1295, 1313, 1315, 1320, 1325, 1330, 1350, 1400,
	1450, 1455, 1460, 1461, 1465, 1466, 1470, 1471,
}

// Field numbers the walker acts on.
const (
	fieldSpecVersion = 1   // Model.specificationVersion
	fieldCustomLayer = 500 // NeuralNetworkLayer.custom
	fieldBranchLayer = 605 // NeuralNetworkLayer.branch
	fieldLoopLayer   = 615 // NeuralNetworkLayer.loop
)

func init() {
	modelMsg.fields = map[protowire.Number]field{
		fieldSpecVersion: varint("specificationVersion"), 2: sub("description", modelDesc), 10: varint("isUpdatable"),
	}
	for num, name := range modelTypes {
		modelMsg.fields[num] = opaque(name)
	}
	for num, m := range map[protowire.Number]*message{
		200: pipelineHolder, 201: pipelineHolder, 202: pipelineMsg,
		303: neuralNetwork, 403: nnClassifier, 500: neuralNetwork, 502: milProgram,
		555: customModel, 556: linkedModel, 3000: serializedMsg,
	} {
		modelMsg.fields[num] = sub(modelTypes[num], m)
	}

	// NeuralNetwork and NeuralNetworkRegressor have the same fields;
	// NeuralNetworkClassifier adds its class labels.
	neuralNetwork.fields = map[protowire.Number]field{
		1: sub("layers", nnLayer), 2: opaque("preprocessing"), 5: varint("arrayInputShapeMapping"),
		6: varint("imageInputShapeMapping"), 10: opaque("updateParams"),
	}
	nnClassifier.fields = map[protowire.Number]field{
		100: opaque("stringClassLabels"), 101: opaque("int64ClassLabels"), 200: text("labelProbabilityLayerName"),
	}
	for num, f := range neuralNetwork.fields {
		nnClassifier.fields[num] = f
	}
	nnLayer.fields = map[protowire.Number]field{
		1: text("name"), 2: text("input"), 3: text("output"), 4: opaque("inputTensor"), 5: opaque("outputTensor"), 10: varint("isUpdatable"),
	}
	for _, num := range layerTypes {
		nnLayer.fields[num] = opaque("layer")
	}
	nnLayer.fields[fieldCustomLayer] = sub("custom", customLayer)
	nnLayer.fields[fieldBranchLayer] = sub("branch", branchLayer)
	nnLayer.fields[fieldLoopLayer] = sub("loop", loopLayer)

	milValue.fields = map[protowire.Number]field{1: text("docString"), 2: sub("type", milValueType), 3: sub("immediateValue", immediateValue), 5: sub("blobFileValue", blobFileValue)}
	milValueType.fields = map[protowire.Number]field{1: sub("tensorType", tensorType), 2: sub("listType", listType), 3: sub("tupleType", tupleType), 4: sub("dictionaryType", dictType), 5: sub("stateType", stateType)}
	milBlock.fields = map[protowire.Number]field{1: sub("inputs", namedValueType), 2: text("outputs"), 3: sub("operations", operation), 4: sub("attributes", valueEntry)}
}
