package knowledge

import (
	"slices"
	"strings"
	"sync"

	"github.com/modelgate/modelgate/internal/finding"
)

// TensorFlow graphs are programs: a SavedModel or frozen GraphDef runs its
// ops when it is loaded (initialisers, restore) or called (signatures). Most
// ops compute on tensors; a few read or write files, run Python, talk to the
// network or map memory from a file. This file lists those (TFDangerousOps,
// with why and a reference) and the names of TensorFlow's own ops
// (TFKnownOps): an op in neither list needs a custom-op library, which is
// native code (RuleTFUnknownOp).

// TFCondition says when an op of TFDangerousOps is reported at its severity.
type TFCondition int

const (
	// TFAlways: wherever the op appears.
	TFAlways TFCondition = iota
	// TFConstPath: when a path input (TFOpRisk.PathInputs) is a constant
	// that is absolute, climbs with "..", or names a remote file system
	// ("gs://", "hdfs://"). Otherwise (the path is fed by the loader, a
	// placeholder or a function argument, or is relative) the op is what
	// every checkpoint saver and vocabulary table does: info.
	TFConstPath
	// TFAttrURL: when the attribute TFOpRisk.Attr holds a URL
	// ("file:///tmp/dump", "grpc://host:port"): debug ops then write
	// tensors to files or send them over the network.
	TFAttrURL
	// TFAttrFile: when the string attribute TFOpRisk.Attr names a file
	// (PrintV2's output_stream "file://…", a proto descriptor_source that is
	// a path, a vocab_file); the defaults (stderr, "local://", "") are not
	// files.
	TFAttrFile
)

// TFOpRisk is one TensorFlow op that reaches outside the graph.
type TFOpRisk struct {
	Op       string
	Severity finding.Severity // when the condition holds
	When     TFCondition
	// PathInputs are the input positions that carry a file name: checked
	// for TFConstPath, shown as evidence for the others.
	PathInputs []int
	// Attr is the attribute checked by TFAttrURL and TFAttrFile, and shown
	// as evidence for TFAlways.
	Attr     string
	Category string // "file-read", "file-write", "checkpoint", "python", "network", "debug", "summary", "memmap"
	Why      string // one sentence: what running the op does
	Ref      string // a public reference
}

// References used by the TensorFlow entries.
const (
	refTFSecurity   = "https://github.com/tensorflow/tensorflow/blob/master/SECURITY.md"
	refTensorAbuse  = "https://github.com/ZJU-SEC/TensorAbuse"
	refModelscanTF  = "https://github.com/protectai/modelscan/blob/main/docs/severity_levels.md"
	refTFRawOps     = "https://www.tensorflow.org/api_docs/python/tf/raw_ops"
	refTFCheckpoint = "https://www.tensorflow.org/guide/checkpoint"
	refTFDebugger   = "https://www.tensorflow.org/api_docs/python/tf/raw_ops/DebugIdentityV2"
)

func tfOps(sev finding.Severity, when TFCondition, category string, ops []string, pathInputs []int, attr, why, ref string) []TFOpRisk {
	out := make([]TFOpRisk, 0, len(ops))
	for _, op := range ops {
		out = append(out, TFOpRisk{Op: op, Severity: sev, When: when, PathInputs: pathInputs, Attr: attr, Category: category, Why: why, Ref: ref})
	}
	return out
}

// TFDangerousOps is the known-dangerous tier of TensorFlow ops (THREATS.md
// item 28). Severity follows the project table: high for ops that touch files
// or the network or call into Python; medium for ops that write summaries or
// read an auxiliary file named by an attribute.
var TFDangerousOps = slices.Concat(
	// Python: the op calls back into the loading process's Python
	// interpreter. The graph cannot carry the Python code itself (it names a
	// function registered by token), but nothing a model needs is done this way.
	tfOps(finding.High, TFAlways, "python", []string{"PyFunc", "PyFuncStateless", "EagerPyFunc"}, nil, "token",
		"calls a Python function of the loading process (tf.py_function / tf.numpy_function): arbitrary Python runs with the model", refTFSecurity),

	// Reading files named by the graph.
	tfOps(finding.High, TFAlways, "file-read", []string{"ReadFile"}, []int{0}, "",
		"reads any file the process can read into a tensor (tf.io.read_file), which the model can return or send on", refModelscanTF),
	tfOps(finding.High, TFAlways, "file-read", []string{"MatchingFiles", "MatchingFilesDataset", "ExperimentalMatchingFilesDataset"}, []int{0}, "",
		"lists the file system with a glob pattern (tf.io.matching_files)", refTensorAbuse),
	tfOps(finding.High, TFAlways, "file-read", []string{
		"WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
		"FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2", "LMDBReader",
	}, nil, "", "a queue-based reader: reads the files whose names are queued to it", refTFRawOps+"/WholeFileReaderV2"),
	tfOps(finding.High, TFAlways, "file-read", []string{
		"TFRecordDataset", "TextLineDataset", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2",
		"CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "LMDBDataset", "ExperimentalLMDBDataset",
	}, []int{0}, "", "a tf.data source that reads the files it is given", refTensorAbuse),
	tfOps(finding.High, TFAlways, "file-read", []string{"SqlDataset", "ExperimentalSqlDataset"}, []int{1}, "",
		"opens a SQLite database file and runs a query on it", refTFRawOps+"/SqlDataset"),
	tfOps(finding.High, TFAlways, "file-read", []string{"RecordInput"}, nil, "file_pattern",
		"reads records from the files matching its file_pattern attribute", refTFRawOps+"/RecordInput"),
	tfOps(finding.High, TFAlways, "file-read", []string{"LoadDataset"}, []int{0}, "",
		"loads a saved tf.data dataset from a directory", refTFRawOps+"/LoadDataset"),
	tfOps(finding.High, TFAlways, "memmap", []string{"ImmutableConst"}, nil, "memory_region_name",
		"maps a file region into a tensor (memory_region_name): a constant whose bytes come from outside the model", refTensorAbuse),

	// Writing files.
	tfOps(finding.High, TFAlways, "file-write", []string{"WriteFile"}, []int{0}, "",
		"writes a tensor to any path the process can write (tf.io.write_file), creating directories", refModelscanTF),
	tfOps(finding.High, TFAlways, "file-write", []string{"DatasetToTFRecord", "ExperimentalDatasetToTFRecord"}, []int{1}, "",
		"writes a dataset to a TFRecord file", refTFRawOps+"/DatasetToTFRecord"),
	tfOps(finding.High, TFAlways, "file-write", []string{"SaveDataset", "SaveDatasetV2", "SnapshotDataset", "SnapshotDatasetV2", "DistributedSave"}, []int{1}, "",
		"writes dataset elements under a directory it is given", refTensorAbuse),

	// Checkpoint ops: every saver has them, fed with the checkpoint path at
	// run time; a constant absolute, '..' or remote path is a planted write
	// or read ("save/restore ops with unusual paths").
	tfOps(finding.High, TFConstPath, "checkpoint", []string{"Save", "SaveSlices", "SaveV2"}, []int{0}, "",
		"writes tensors to the checkpoint path it is given", refTensorAbuse),
	tfOps(finding.High, TFConstPath, "checkpoint", []string{"Restore", "RestoreSlice", "RestoreV2"}, []int{0}, "",
		"reads tensors from the checkpoint path it is given", refTFCheckpoint),
	tfOps(finding.High, TFConstPath, "checkpoint", []string{"MergeV2Checkpoints"}, []int{0, 1}, "",
		"merges checkpoint files into a destination prefix and deletes the source directories", refTFRawOps+"/MergeV2Checkpoints"),
	tfOps(finding.High, TFConstPath, "file-read", []string{"InitializeTableFromTextFile", "InitializeTableFromTextFileV2"}, []int{1}, "",
		"fills a lookup table from a text file (normally a vocabulary asset)", refTensorAbuse),
	tfOps(finding.High, TFConstPath, "file-read", []string{"GenerateVocabRemapping"}, []int{0, 1}, "",
		"reads two vocabulary files", refTFRawOps+"/GenerateVocabRemapping"),
	tfOps(finding.High, TFConstPath, "file-read", []string{"LoadAndRemapMatrix"}, []int{0}, "",
		"reads a tensor from a checkpoint path", refTFRawOps+"/LoadAndRemapMatrix"),
	tfOps(finding.High, TFConstPath, "file-write", []string{"CacheDataset", "CacheDatasetV2"}, []int{1}, "",
		"caches dataset elements in files under the filename it is given (in memory when empty)", refTFRawOps+"/CacheDatasetV2"),

	// Network.
	tfOps(finding.High, TFAlways, "network", []string{
		"RpcCall", "RpcClient", "RpcServer", "RpcServerRegister", "RpcServerStart", "RpcCheckStatus", "RpcGetValue", "DeleteRpcFutureResource",
	}, nil, "", "tf.distribute.experimental.rpc: starts a gRPC server or calls a remote one", refTensorAbuse),
	tfOps(finding.High, TFAlways, "network", []string{
		"RegisterDataset", "RegisterDatasetV2", "DataServiceDataset", "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4",
	}, nil, "", "connects to a tf.data service at an address the graph gives", refTensorAbuse),

	// Debug ops: harmless unless their URLs point somewhere.
	tfOps(finding.High, TFAttrURL, "debug", []string{"DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary"}, nil, "debug_urls",
		"tfdbg op with debug_urls: dumps tensors to file:// paths or sends them to grpc:// servers", refTFDebugger),
	tfOps(finding.High, TFAttrURL, "debug", []string{"Copy", "CopyHost"}, nil, "debug_ops_spec",
		"copy op whose debug_ops_spec sends the tensor to a file:// or grpc:// debug URL", refTFRawOps+"/Copy"),

	// Writing summaries and logs.
	tfOps(finding.Medium, TFAttrFile, "file-write", []string{"PrintV2"}, nil, "output_stream",
		"tf.print with output_stream \"file://…\" appends to that file", refTensorAbuse),
	tfOps(finding.Medium, TFAlways, "summary", []string{"CreateSummaryFileWriter", "CreateSummaryDbWriter"}, []int{1}, "",
		"opens an event file (or SQLite database) in a directory the graph gives", refTFRawOps+"/CreateSummaryFileWriter"),
	tfOps(finding.Medium, TFAlways, "summary", []string{
		"WriteSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary",
		"WriteGraphSummary", "WriteRawProtoSummary", "ImportEvent",
	}, nil, "", "writes to a summary writer's files", refTFRawOps+"/WriteSummary"),
	tfOps(finding.Medium, TFAttrFile, "file-read", []string{"DecodeProtoV2", "EncodeProto"}, nil, "descriptor_source",
		"descriptor_source names a file of proto descriptors to read", refTFRawOps+"/DecodeProtoV2"),
	tfOps(finding.Medium, TFAttrFile, "file-read", []string{"FixedUnigramCandidateSampler"}, nil, "vocab_file",
		"reads the vocabulary file named by vocab_file", refTFRawOps+"/FixedUnigramCandidateSampler"),
)

// TFKnownOps are the names of TensorFlow's own ops (every op of
// tf.raw_ops, newer ops, and the internal ops that appear in optimised or
// function graphs), sorted. An op outside this list and TFDangerousOps is a
// custom op: loading the model needs its library (native code).
var TFKnownOps = sortedFields(tfRegistryOps, tfNewerOps, tfInternalOps)

var tfIndex = sync.OnceValues(func() (map[string]*TFOpRisk, map[string]bool) {
	risks := make(map[string]*TFOpRisk, len(TFDangerousOps))
	for i := range TFDangerousOps {
		r := &TFDangerousOps[i]
		if _, dup := risks[r.Op]; dup {
			panic("knowledge: duplicate TensorFlow op " + r.Op)
		}
		risks[r.Op] = r
	}
	known := make(map[string]bool, len(TFKnownOps))
	for _, op := range TFKnownOps {
		known[op] = true
	}
	return risks, known
})

// LookupTFOp returns the risk entry of a TensorFlow op (nil when it is not in
// TFDangerousOps) and whether the op is one of TensorFlow's own.
func LookupTFOp(op string) (risk *TFOpRisk, known bool) {
	risks, knownOps := tfIndex()
	r := risks[op]
	return r, knownOps[op] || r != nil
}

func sortedFields(lists ...string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, strings.Fields(l)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// tfRegistryOps is every op of TensorFlow 2's tf.raw_ops, as listed by
// tensorflow/tools/api/golden/v2/tensorflow.raw_ops.pbtxt (the API golden
// file generated from the op registry; commit 006108e91a9709b98395ebb1c0e4edc3f901c1b3).
const tfRegistryOps = `
Abort Abs AccumulateNV2 AccumulatorApplyGradient AccumulatorNumAccumulated
AccumulatorSetGlobalStep AccumulatorTakeGradient Acos Acosh Add AddManySparseToTensorsMap AddN
AddSparseToTensorsMap AddV2 AdjustContrast AdjustContrastv2 AdjustHue AdjustSaturation All
AllCandidateSampler AllToAll Angle AnonymousIterator AnonymousIteratorV2 AnonymousMemoryCache
AnonymousMultiDeviceIterator AnonymousRandomSeedGenerator Any ApplyAdaMax ApplyAdadelta
ApplyAdagrad ApplyAdagradDA ApplyAdagradV2 ApplyAdam ApplyAddSign ApplyCenteredRMSProp
ApplyFtrl ApplyFtrlV2 ApplyGradientDescent ApplyMomentum ApplyPowerSign ApplyProximalAdagrad
ApplyProximalGradientDescent ApplyRMSProp ApproximateEqual ArgMax ArgMin AsString
Asin Asinh Assert AssertNextDataset Assign AssignAdd AssignAddVariableOp AssignSub
AssignSubVariableOp AssignVariableOp Atan Atan2 Atanh AudioSpectrogram AudioSummary
AudioSummaryV2 AutoShardDataset AvgPool AvgPool3D AvgPool3DGrad AvgPoolGrad Barrier
BarrierClose BarrierIncompleteSize BarrierInsertMany BarrierReadySize BarrierTakeMany Batch
BatchCholesky BatchCholeskyGrad BatchDataset BatchDatasetV2 BatchFFT BatchFFT2D BatchFFT3D
BatchFunction BatchIFFT BatchIFFT2D BatchIFFT3D BatchMatMul BatchMatMulV2 BatchMatrixBandPart
BatchMatrixDeterminant BatchMatrixDiag BatchMatrixDiagPart BatchMatrixInverse
BatchMatrixSetDiag BatchMatrixSolve BatchMatrixSolveLs BatchMatrixTriangularSolve
BatchNormWithGlobalNormalization BatchNormWithGlobalNormalizationGrad BatchSelfAdjointEig
BatchSelfAdjointEigV2 BatchSvd BatchToSpace BatchToSpaceND BesselI0e BesselI1e Betainc
BiasAdd BiasAddGrad BiasAddV1 Bincount Bitcast BitwiseAnd BitwiseOr BitwiseXor BlockLSTM
BlockLSTMGrad BlockLSTMGradV2 BlockLSTMV2 BoostedTreesAggregateStats BoostedTreesBucketize
BoostedTreesCalculateBestFeatureSplit BoostedTreesCalculateBestGainsPerFeature
BoostedTreesCenterBias BoostedTreesCreateEnsemble BoostedTreesCreateQuantileStreamResource
BoostedTreesDeserializeEnsemble BoostedTreesEnsembleResourceHandleOp
BoostedTreesExampleDebugOutputs BoostedTreesFlushQuantileSummaries BoostedTreesGetEnsembleStates
BoostedTreesMakeQuantileSummaries BoostedTreesMakeStatsSummary BoostedTreesPredict
BoostedTreesQuantileStreamResourceAddSummaries BoostedTreesQuantileStreamResourceDeserialize
BoostedTreesQuantileStreamResourceFlush BoostedTreesQuantileStreamResourceGetBucketBoundaries
BoostedTreesQuantileStreamResourceHandleOp BoostedTreesSerializeEnsemble
BoostedTreesSparseAggregateStats BoostedTreesSparseCalculateBestFeatureSplit
BoostedTreesTrainingPredict BoostedTreesUpdateEnsemble BoostedTreesUpdateEnsembleV2
BroadcastArgs BroadcastGradientArgs BroadcastTo Bucketize BytesProducedStatsDataset
CSVDataset CTCBeamSearchDecoder CTCGreedyDecoder CTCLoss CacheDataset CacheDatasetV2 Case
Cast Ceil CheckNumerics Cholesky CholeskyGrad ChooseFastestBranchDataset ChooseFastestDataset
ClipByValue CloseSummaryWriter CollectiveBcastRecv CollectiveBcastSend CollectiveGather
CollectivePermute CollectiveReduce CombinedNonMaxSuppression CompareAndBitpack
Complex ComplexAbs ComputeAccidentalHits Concat ConcatOffset ConcatV2 ConcatenateDataset
ConditionalAccumulator ConfigureDistributedTPU ConfigureTPUEmbedding Conj ConjugateTranspose
Const ConsumeMutexLock ControlTrigger Conv2D Conv2DBackpropFilter Conv2DBackpropInput Conv3D
Conv3DBackpropFilter Conv3DBackpropFilterV2 Conv3DBackpropInput Conv3DBackpropInputV2 Copy
CopyHost Cos Cosh CountUpTo CreateSummaryDbWriter CreateSummaryFileWriter CropAndResize
CropAndResizeGradBoxes CropAndResizeGradImage Cross CrossReplicaSum CudnnRNN CudnnRNNBackprop
CudnnRNNBackpropV2 CudnnRNNBackpropV3 CudnnRNNCanonicalToParams CudnnRNNCanonicalToParamsV2
CudnnRNNParamsSize CudnnRNNParamsToCanonical CudnnRNNParamsToCanonicalV2 CudnnRNNV2 CudnnRNNV3
Cumprod Cumsum CumulativeLogsumexp DataFormatDimMap DataFormatVecPermute DatasetCardinality
DatasetFromGraph DatasetToGraph DatasetToSingleElement DatasetToTFRecord DebugGradientIdentity
DebugGradientRefIdentity DebugIdentity DebugIdentityV2 DebugNanCount DebugNumericSummary
DecodeAndCropJpeg DecodeBase64 DecodeBmp DecodeCSV DecodeCompressed DecodeGif DecodeJSONExample
DecodeJpeg DecodePaddedRaw DecodePng DecodeProtoV2 DecodeRaw DecodeWav DeepCopy DeleteIterator
DeleteMemoryCache DeleteMultiDeviceIterator DeleteRandomSeedGenerator DeleteSessionTensor
DenseToDenseSetOperation DenseToSparseBatchDataset DenseToSparseSetOperation DepthToSpace
DepthwiseConv2dNative DepthwiseConv2dNativeBackpropFilter DepthwiseConv2dNativeBackpropInput
Dequantize DeserializeIterator DeserializeManySparse DeserializeSparse DestroyResourceOp
DestroyTemporaryVariable Diag DiagPart Digamma Dilation2D Dilation2DBackpropFilter
Dilation2DBackpropInput DirectedInterleaveDataset Div DivNoNan DrawBoundingBoxes
DrawBoundingBoxesV2 DynamicPartition DynamicStitch EagerPyFunc EditDistance Einsum Elu
EluGrad Empty EmptyTensorList EncodeBase64 EncodeJpeg EncodeJpegVariableQuality EncodePng
EncodeProto EncodeWav EnqueueTPUEmbeddingIntegerBatch EnqueueTPUEmbeddingSparseBatch
EnqueueTPUEmbeddingSparseTensorBatch EnsureShape Enter Equal Erf Erfc Erfinv
EuclideanNorm Exit Exp ExpandDims ExperimentalAssertNextDataset ExperimentalAutoShardDataset
ExperimentalBytesProducedStatsDataset ExperimentalCSVDataset ExperimentalChooseFastestDataset
ExperimentalDatasetCardinality ExperimentalDatasetToTFRecord
ExperimentalDenseToSparseBatchDataset ExperimentalDirectedInterleaveDataset
ExperimentalGroupByReducerDataset ExperimentalGroupByWindowDataset
ExperimentalIgnoreErrorsDataset ExperimentalIteratorGetDevice ExperimentalLMDBDataset
ExperimentalLatencyStatsDataset ExperimentalMapAndBatchDataset ExperimentalMapDataset
ExperimentalMatchingFilesDataset ExperimentalMaxIntraOpParallelismDataset
ExperimentalNonSerializableDataset ExperimentalParallelInterleaveDataset
ExperimentalParseExampleDataset ExperimentalPrivateThreadPoolDataset ExperimentalRandomDataset
ExperimentalRebatchDataset ExperimentalScanDataset ExperimentalSetStatsAggregatorDataset
ExperimentalSleepDataset ExperimentalSlidingWindowDataset ExperimentalSqlDataset
ExperimentalStatsAggregatorHandle ExperimentalStatsAggregatorSummary ExperimentalTakeWhileDataset
ExperimentalThreadPoolDataset ExperimentalThreadPoolHandle ExperimentalUnbatchDataset
ExperimentalUniqueDataset Expm1 ExtractGlimpse ExtractImagePatches ExtractJpegShape
ExtractVolumePatches FFT FFT2D FFT3D FIFOQueue FIFOQueueV2 Fact FakeParam FakeQuantWithMinMaxArgs
FakeQuantWithMinMaxArgsGradient FakeQuantWithMinMaxVars FakeQuantWithMinMaxVarsGradient
FakeQuantWithMinMaxVarsPerChannel FakeQuantWithMinMaxVarsPerChannelGradient FakeQueue
Fill FilterByLastComponentDataset FilterDataset Fingerprint FixedLengthRecordDataset
FixedLengthRecordDatasetV2 FixedLengthRecordReader FixedLengthRecordReaderV2
FixedUnigramCandidateSampler FlatMapDataset Floor FloorDiv FloorMod FlushSummaryWriter
For FractionalAvgPool FractionalAvgPoolGrad FractionalMaxPool FractionalMaxPoolGrad
FractionalMaxPoolGrad FusedBatchNorm FusedBatchNormGrad FusedBatchNormGradV2 FusedBatchNormGradV3
FusedBatchNormV2 FusedBatchNormV3 FusedPadConv2D FusedResizeAndPadConv2D GRUBlockCell
GRUBlockCellGrad Gather GatherNd GatherV2 GenerateVocabRemapping GeneratorDataset
GetSessionHandle GetSessionHandleV2 GetSessionTensor Greater GreaterEqual GroupByReducerDataset
GroupByWindowDataset GuaranteeConst HSVToRGB HashTable HashTableV2 HistogramFixedWidth
HistogramSummary IFFT IFFT2D IFFT3D IRFFT IRFFT2D IRFFT3D Identity IdentityN IdentityReader
IdentityReaderV2 If Igamma IgammaGradA Igammac IgnoreErrorsDataset Imag ImageSummary
ImmutableConst ImportEvent InTopK InTopKV2 InfeedDequeue InfeedDequeueTuple InfeedEnqueue
InfeedEnqueuePrelinearizedBuffer InfeedEnqueueTuple InitializeTable InitializeTableFromTextFile
InitializeTableFromTextFileV2 InitializeTableV2 InplaceAdd InplaceSub InplaceUpdate
InterleaveDataset Inv InvGrad Invert InvertPermutation IsBoostedTreesEnsembleInitialized
IsBoostedTreesQuantileStreamResourceInitialized IsFinite IsInf IsNan IsVariableInitialized
Iterator IteratorFromStringHandle IteratorFromStringHandleV2 IteratorGetDevice IteratorGetNext
IteratorGetNextAsOptional IteratorGetNextSync IteratorToStringHandle IteratorV2 L2Loss
LMDBDataset LMDBReader LRN LRNGrad LSTMBlockCell LSTMBlockCellGrad LatencyStatsDataset LeakyRelu
LeakyReluGrad LearnedUnigramCandidateSampler LeftShift Less LessEqual Lgamma LinSpace ListDiff
LoadAndRemapMatrix LoadTPUEmbeddingADAMParameters LoadTPUEmbeddingADAMParametersGradAccumDebug
LoadTPUEmbeddingAdadeltaParameters LoadTPUEmbeddingAdadeltaParametersGradAccumDebug
LoadTPUEmbeddingAdagradParameters LoadTPUEmbeddingAdagradParametersGradAccumDebug
LoadTPUEmbeddingCenteredRMSPropParameters LoadTPUEmbeddingFTRLParameters
LoadTPUEmbeddingFTRLParametersGradAccumDebug LoadTPUEmbeddingMDLAdagradLightParameters
LoadTPUEmbeddingMomentumParameters LoadTPUEmbeddingMomentumParametersGradAccumDebug
LoadTPUEmbeddingProximalAdagradParameters LoadTPUEmbeddingProximalAdagradParametersGradAccumDebug
LoadTPUEmbeddingRMSPropParameters LoadTPUEmbeddingRMSPropParametersGradAccumDebug
LoadTPUEmbeddingStochasticGradientDescentParameters Log Log1p LogMatrixDeterminant LogSoftmax
LogUniformCandidateSampler LogicalAnd LogicalNot LogicalOr LookupTableExport LookupTableExportV2
LookupTableFind LookupTableFindV2 LookupTableImport LookupTableImportV2 LookupTableInsert
LookupTableInsertV2 LookupTableRemoveV2 LookupTableSize LookupTableSizeV2 LoopCond LowerBound
Lu MakeIterator MapAndBatchDataset MapClear MapDataset MapDefun MapIncompleteSize MapPeek
MapSize MapStage MapUnstage MapUnstageNoKey MatMul MatchingFiles MatchingFilesDataset
MatrixBandPart MatrixDeterminant MatrixDiag MatrixDiagPart MatrixDiagPartV2 MatrixDiagV2
MatrixExponential MatrixInverse MatrixLogarithm MatrixSetDiag MatrixSetDiagV2 MatrixSolve
MatrixSolveLs MatrixSquareRoot MatrixTriangularSolve Max MaxIntraOpParallelismDataset
MaxPool MaxPool3D MaxPool3DGrad MaxPool3DGradGrad MaxPoolGrad MaxPoolGradGrad
MaxPoolGradGradV2 MaxPoolGradGradWithArgmax MaxPoolGradV2 MaxPoolGradWithArgmax
MaxPoolV2 MaxPoolWithArgmax Maximum Mean Merge MergeSummary MergeV2Checkpoints Mfcc
Min Minimum MirrorPad MirrorPadGrad Mod ModelDataset Mul MulNoNan MultiDeviceIterator
MultiDeviceIteratorFromStringHandle MultiDeviceIteratorGetNextFromShard MultiDeviceIteratorInit
MultiDeviceIteratorToStringHandle Multinomial MutableDenseHashTable MutableDenseHashTableV2
MutableHashTable MutableHashTableOfTensors MutableHashTableOfTensorsV2 MutableHashTableV2
MutexLock MutexV2 NcclAllReduce NcclBroadcast NcclReduce Ndtri Neg NextAfter NextIteration
NoOp NonDeterministicInts NonMaxSuppression NonMaxSuppressionV2 NonMaxSuppressionV3
NonMaxSuppressionV4 NonMaxSuppressionV5 NonMaxSuppressionWithOverlaps NonSerializableDataset
NotEqual NthElement OneHot OneShotIterator OnesLike OptimizeDataset OptionalFromValue
OptionalGetValue OptionalHasValue OptionalNone OrderedMapClear OrderedMapIncompleteSize
OrderedMapPeek OrderedMapSize OrderedMapStage OrderedMapUnstage OrderedMapUnstageNoKey
OutfeedDequeue OutfeedDequeueTuple OutfeedEnqueue OutfeedEnqueueTuple Pack Pad PadV2
PaddedBatchDataset PaddedBatchDatasetV2 PaddingFIFOQueue PaddingFIFOQueueV2 ParallelConcat
ParallelDynamicStitch ParallelInterleaveDataset ParallelInterleaveDatasetV2 ParallelMapDataset
ParameterizedTruncatedNormal ParseExample ParseExampleDataset ParseExampleV2 ParseSequenceExample
ParseSequenceExampleV2 ParseSingleExample ParseSingleSequenceExample ParseTensor
PartitionedCall Placeholder PlaceholderV2 PlaceholderWithDefault Polygamma PopulationCount
Pow PrefetchDataset Prelinearize PrelinearizeTuple PreventGradient Print PrintV2 PriorityQueue
PriorityQueueV2 PrivateThreadPoolDataset Prod PyFunc PyFuncStateless Qr QuantizeAndDequantize
QuantizeAndDequantizeV2 QuantizeAndDequantizeV3 QuantizeDownAndShrinkRange QuantizeV2
QuantizedAdd QuantizedAvgPool QuantizedBatchNormWithGlobalNormalization QuantizedBiasAdd
QuantizedConcat QuantizedConv2D QuantizedConv2DAndRelu QuantizedConv2DAndReluAndRequantize
QuantizedConv2DAndRequantize QuantizedConv2DPerChannel QuantizedConv2DWithBias
QuantizedConv2DWithBiasAndRelu QuantizedConv2DWithBiasAndReluAndRequantize
QuantizedConv2DWithBiasAndRequantize QuantizedConv2DWithBiasSignedSumAndReluAndRequantize
QuantizedConv2DWithBiasSumAndRelu QuantizedConv2DWithBiasSumAndReluAndRequantize
QuantizedDepthwiseConv2D QuantizedDepthwiseConv2DWithBias QuantizedDepthwiseConv2DWithBiasAndRelu
QuantizedDepthwiseConv2DWithBiasAndReluAndRequantize QuantizedInstanceNorm
QuantizedMatMul QuantizedMatMulWithBias QuantizedMatMulWithBiasAndRelu
QuantizedMatMulWithBiasAndReluAndRequantize QuantizedMaxPool QuantizedMul QuantizedRelu
QuantizedRelu6 QuantizedReluX QuantizedReshape QuantizedResizeBilinear QueueClose QueueCloseV2
QueueDequeue QueueDequeueMany QueueDequeueManyV2 QueueDequeueUpTo QueueDequeueUpToV2
QueueDequeueV2 QueueEnqueue QueueEnqueueMany QueueEnqueueManyV2 QueueEnqueueV2 QueueIsClosed
QueueIsClosedV2 QueueSize QueueSizeV2 RFFT RFFT2D RFFT3D RGBToHSV RaggedGather RaggedRange
RaggedTensorFromVariant RaggedTensorToSparse RaggedTensorToTensor RaggedTensorToVariant
RandomCrop RandomDataset RandomGamma RandomGammaGrad RandomPoisson RandomPoissonV2
RandomShuffle RandomShuffleQueue RandomShuffleQueueV2 RandomStandardNormal RandomUniform
RandomUniformInt Range RangeDataset Rank ReadFile ReadVariableOp ReaderNumRecordsProduced
ReaderNumRecordsProducedV2 ReaderNumWorkUnitsCompleted ReaderNumWorkUnitsCompletedV2 ReaderRead
ReaderReadUpTo ReaderReadUpToV2 ReaderReadV2 ReaderReset ReaderResetV2 ReaderRestoreState
ReaderRestoreStateV2 ReaderSerializeState ReaderSerializeStateV2 Real RealDiv RebatchDataset
Reciprocal ReciprocalGrad RecordInput Recv RecvTPUEmbeddingActivations ReduceDataset ReduceJoin
RefEnter RefExit RefIdentity RefMerge RefNextIteration RefSelect RefSwitch RegexFullMatch
RegexReplace Relu Relu6 Relu6Grad ReluGrad RemoteCall RepeatDataset RequantizationRange
RequantizationRangePerChannel Requantize RequantizePerChannel Reshape ResizeArea
ResizeBicubic ResizeBicubicGrad ResizeBilinear ResizeBilinearGrad ResizeNearestNeighbor
ResizeNearestNeighborGrad ResourceAccumulatorApplyGradient ResourceAccumulatorNumAccumulated
ResourceAccumulatorSetGlobalStep ResourceAccumulatorTakeGradient ResourceApplyAdaMax
ResourceApplyAdadelta ResourceApplyAdagrad ResourceApplyAdagradDA ResourceApplyAdagradV2
ResourceApplyAdam ResourceApplyAdamWithAmsgrad ResourceApplyAddSign ResourceApplyCenteredRMSProp
ResourceApplyFtrl ResourceApplyFtrlV2 ResourceApplyGradientDescent ResourceApplyKerasMomentum
ResourceApplyMomentum ResourceApplyPowerSign ResourceApplyProximalAdagrad
ResourceApplyProximalGradientDescent ResourceApplyRMSProp ResourceConditionalAccumulator
ResourceCountUpTo ResourceGather ResourceGatherNd ResourceScatterAdd ResourceScatterDiv
ResourceScatterMax ResourceScatterMin ResourceScatterMul ResourceScatterNdAdd
ResourceScatterNdSub ResourceScatterNdUpdate ResourceScatterSub ResourceScatterUpdate
ResourceSparseApplyAdadelta ResourceSparseApplyAdagrad ResourceSparseApplyAdagradDA
ResourceSparseApplyAdagradV2 ResourceSparseApplyCenteredRMSProp ResourceSparseApplyFtrl
ResourceSparseApplyFtrlV2 ResourceSparseApplyKerasMomentum ResourceSparseApplyMomentum
ResourceSparseApplyProximalAdagrad ResourceSparseApplyProximalGradientDescent
ResourceSparseApplyRMSProp ResourceStridedSliceAssign Restore RestoreSlice RestoreV2
RetrieveTPUEmbeddingADAMParameters RetrieveTPUEmbeddingADAMParametersGradAccumDebug
RetrieveTPUEmbeddingAdadeltaParameters RetrieveTPUEmbeddingAdadeltaParametersGradAccumDebug
RetrieveTPUEmbeddingAdagradParameters RetrieveTPUEmbeddingAdagradParametersGradAccumDebug
RetrieveTPUEmbeddingCenteredRMSPropParameters RetrieveTPUEmbeddingFTRLParameters
RetrieveTPUEmbeddingFTRLParametersGradAccumDebug RetrieveTPUEmbeddingMDLAdagradLightParameters
RetrieveTPUEmbeddingMomentumParameters RetrieveTPUEmbeddingMomentumParametersGradAccumDebug
RetrieveTPUEmbeddingProximalAdagradParameters
RetrieveTPUEmbeddingProximalAdagradParametersGradAccumDebug
RetrieveTPUEmbeddingRMSPropParameters RetrieveTPUEmbeddingRMSPropParametersGradAccumDebug
RetrieveTPUEmbeddingStochasticGradientDescentParameters Reverse ReverseSequence
ReverseV2 RightShift Rint RngSkip Roll Round Rsqrt RsqrtGrad SampleDistortedBoundingBox
SampleDistortedBoundingBoxV2 SamplingDataset Save SaveSlices SaveV2 ScalarSummary
ScaleAndTranslate ScaleAndTranslateGrad ScanDataset ScatterAdd ScatterDiv ScatterMax
ScatterMin ScatterMul ScatterNd ScatterNdAdd ScatterNdNonAliasingAdd ScatterNdSub
ScatterNdUpdate ScatterSub ScatterUpdate SdcaFprint SdcaOptimizer SdcaOptimizerV2
SdcaShrinkL1 SegmentMax SegmentMean SegmentMin SegmentProd SegmentSum Select SelectV2
SelfAdjointEig SelfAdjointEigV2 Selu SeluGrad Send SendTPUEmbeddingGradients SerializeIterator
SerializeManySparse SerializeSparse SerializeTensor SetSize SetStatsAggregatorDataset
Shape ShapeN ShardDataset ShardedFilename ShardedFilespec ShuffleAndRepeatDataset
ShuffleDataset ShuffleDatasetV2 ShutdownDistributedTPU Sigmoid SigmoidGrad Sign Sin Sinh
Size SkipDataset SleepDataset Slice SlidingWindowDataset Snapshot SnapshotDataset Softmax
SoftmaxCrossEntropyWithLogits Softplus SoftplusGrad Softsign SoftsignGrad SpaceToBatch
SpaceToBatchND SpaceToDepth SparseAccumulatorApplyGradient SparseAccumulatorTakeGradient
SparseAdd SparseAddGrad SparseApplyAdadelta SparseApplyAdagrad SparseApplyAdagradDA
SparseApplyAdagradV2 SparseApplyCenteredRMSProp SparseApplyFtrl SparseApplyFtrlV2
SparseApplyMomentum SparseApplyProximalAdagrad SparseApplyProximalGradientDescent
SparseApplyRMSProp SparseConcat SparseConditionalAccumulator SparseCross SparseDenseCwiseAdd
SparseDenseCwiseDiv SparseDenseCwiseMul SparseFillEmptyRows SparseFillEmptyRowsGrad SparseMatMul
SparseReduceMax SparseReduceMaxSparse SparseReduceSum SparseReduceSumSparse SparseReorder
SparseReshape SparseSegmentMean SparseSegmentMeanGrad SparseSegmentMeanWithNumSegments
SparseSegmentSqrtN SparseSegmentSqrtNGrad SparseSegmentSqrtNWithNumSegments
SparseSegmentSum SparseSegmentSumWithNumSegments SparseSlice SparseSliceGrad SparseSoftmax
SparseSoftmaxCrossEntropyWithLogits SparseSparseMaximum SparseSparseMinimum SparseSplit
SparseTensorDenseAdd SparseTensorDenseMatMul SparseTensorSliceDataset SparseToDense
SparseToSparseSetOperation Split SplitV SqlDataset Sqrt SqrtGrad Square SquaredDifference
Squeeze Stack StackClose StackCloseV2 StackPop StackPopV2 StackPush StackPushV2 StackV2
Stage StageClear StagePeek StageSize StatefulPartitionedCall StatefulRandomBinomial
StatefulStandardNormal StatefulStandardNormalV2 StatefulTruncatedNormal StatefulUniform
StatefulUniformFullInt StatefulUniformInt StatelessIf StatelessMultinomial StatelessRandomNormal
StatelessRandomUniform StatelessRandomUniformInt StatelessTruncatedNormal StatelessWhile
StaticRegexFullMatch StaticRegexReplace StatsAggregatorHandle StatsAggregatorHandleV2
StatsAggregatorSetSummaryWriter StatsAggregatorSummary StopGradient StridedSlice
StridedSliceAssign StridedSliceGrad StringFormat StringJoin StringLength StringLower
StringNGrams StringSplit StringSplitV2 StringStrip StringToHashBucket StringToHashBucketFast
StringToHashBucketStrong StringToNumber StringUpper Sub Substr Sum SummaryWriter Svd Switch
SymbolicGradient TFRecordDataset TFRecordReader TFRecordReaderV2 TPUCompilationResult
TPUEmbeddingActivations TPUOrdinalSelector TPUPartitionedCall TPUReplicateMetadata
TPUReplicatedInput TPUReplicatedOutput TakeDataset TakeManySparseFromTensorsMap TakeWhileDataset
Tan Tanh TanhGrad TemporaryVariable TensorArray TensorArrayClose TensorArrayCloseV2
TensorArrayCloseV3 TensorArrayConcat TensorArrayConcatV2 TensorArrayConcatV3 TensorArrayGather
TensorArrayGatherV2 TensorArrayGatherV3 TensorArrayGrad TensorArrayGradV2 TensorArrayGradV3
TensorArrayGradWithShape TensorArrayPack TensorArrayRead TensorArrayReadV2 TensorArrayReadV3
TensorArrayScatter TensorArrayScatterV2 TensorArrayScatterV3 TensorArraySize TensorArraySizeV2
TensorArraySizeV3 TensorArraySplit TensorArraySplitV2 TensorArraySplitV3 TensorArrayUnpack
TensorArrayV2 TensorArrayV3 TensorArrayWrite TensorArrayWriteV2 TensorArrayWriteV3
TensorDataset TensorListConcat TensorListConcatLists TensorListConcatV2 TensorListElementShape
TensorListFromTensor TensorListGather TensorListGetItem TensorListLength TensorListPopBack
TensorListPushBack TensorListPushBackBatch TensorListReserve TensorListResize TensorListScatter
TensorListScatterIntoExistingList TensorListScatterV2 TensorListSetItem TensorListSplit
TensorListStack TensorScatterAdd TensorScatterSub TensorScatterUpdate TensorSliceDataset
TensorStridedSliceUpdate TensorSummary TensorSummaryV2 TextLineDataset TextLineReader
TextLineReaderV2 ThreadPoolDataset ThreadPoolHandle ThreadUnsafeUnigramCandidateSampler
Tile TileGrad Timestamp TopK TopKV2 Transpose TridiagonalMatMul TridiagonalSolve TruncateDiv
TruncateMod TruncatedNormal Unbatch UnbatchDataset UnbatchGrad UnicodeDecode
UnicodeDecodeWithOffsets UnicodeEncode UnicodeScript UnicodeTranscode UniformCandidateSampler
Unique UniqueDataset UniqueV2 UniqueWithCounts UniqueWithCountsV2 Unpack UnravelIndex
UnsortedSegmentJoin UnsortedSegmentMax UnsortedSegmentMin UnsortedSegmentProd UnsortedSegmentSum
Unstage UnwrapDatasetVariant UpperBound VarHandleOp VarIsInitializedOp Variable VariableShape
VariableV2 Where While WholeFileReader WholeFileReaderV2 WindowDataset WorkerHeartbeat
WrapDatasetVariant WriteAudioSummary WriteFile WriteGraphSummary WriteHistogramSummary
WriteImageSummary WriteRawProtoSummary WriteScalarSummary WriteSummary Xdivy Xlogy ZerosLike
Zeta ZipDataset
`

// tfNewerOps are ops added to the registry after that golden file (stateless
// random V2, DisableCopyOnRead, uniform quantization, XLA call ops, newer
// tf.data and collective ops) and ops named by TensorFlow-abuse research
// (all of them also in TFDangerousOps).
const tfNewerOps = `
AnonymousHashTable AnonymousIteratorV3 AnonymousMultiDeviceIteratorV3
AnonymousMutableDenseHashTable AnonymousMutableHashTable AnonymousMutableHashTableOfTensors
AnonymousSeedGenerator ApproxTopK AssertCardinalityDataset AssertPrevDataset
BandedTriangularSolve BatchMatMulV3 BesselI0 BesselI1 BesselJ0 BesselJ1 BesselK0 BesselK0e
BesselK1 BesselK1e BesselY0 BesselY1 CSVDatasetV2 CheckNumericsV2 CollectiveAllToAllV2
CollectiveAllToAllV3 CollectiveAssignGroupV2 CollectiveBcastRecvV2 CollectiveBcastSendV2
CollectiveGatherV2 CollectiveInitializeCommunicator CollectiveReduceScatterV2
CollectiveReduceV2 CollectiveReduceV3 CompressElement Conv DataServiceDataset
DataServiceDatasetV2 DataServiceDatasetV3 DataServiceDatasetV4 Dawsn DebugIdentityV3
DebugNumericSummaryV2 DecodeImage DeleteRpcFutureResource DeleteSeedGenerator
DenseBincount DenseCountSparseOutput DisableCopyOnRead DistributedSave DummyMemoryCache
DummySeedGenerator Eig EmptyTensorMap Expint FFTND FinalizeDataset FresnelCos
FresnelSin GenerateBoundingBoxProposals GetElementAtIndex GetOptions IFFTND IRFFTND
ImageProjectiveTransformV2 ImageProjectiveTransformV3 InitializeTableFromDataset
IsTPUEmbeddingInitialized IsotonicRegression KthOrderStatistic LegacyParallelInterleaveDatasetV2
ListDataset LoadDataset MakeUnique MatrixDiagPartV3 MatrixDiagV3 MatrixSetDiagV3
OptimizeDatasetV2 OptionsDataset ParallelBatchDataset ParallelFilterDataset
ParallelInterleaveDatasetV3 ParallelInterleaveDatasetV4 ParallelMapDatasetV2
ParseExampleDatasetV2 QuantizeAndDequantizeV4 QuantizeAndDequantizeV4Grad RFFTND
RaggedBincount RaggedCountSparseOutput RaggedCross RaggedFillEmptyRows RaggedFillEmptyRowsGrad
RaggedTensorToVariantGradient RandomDatasetV2 RandomIndexShuffle RebatchDatasetV2 RegisterDataset
RegisterDatasetV2 ResourceScatterNdMax ResourceScatterNdMin RewriteDataset RngReadAndSkip
RpcCall RpcCheckStatus RpcClient RpcGetValue RpcServer RpcServerRegister RpcServerStart
SaveDataset SaveDatasetV2 ScatterNdMax ScatterNdMin SegmentMaxV2 SegmentMinV2 SegmentProdV2
SegmentSumV2 ShuffleAndRepeatDatasetV2 ShuffleDatasetV3 SnapshotDatasetV2 SparseBincount
SparseCountSparseOutput SparseSegmentMeanGradV2 SparseSegmentSqrtNGradV2 SparseSegmentSumGrad
SparseSegmentSumGradV2 Spence StatelessCase StatelessParameterizedTruncatedNormal
StatelessRandomBinomial StatelessRandomGammaV2 StatelessRandomGammaV3 StatelessRandomGetAlg
StatelessRandomGetKeyCounter StatelessRandomGetKeyCounterAlg StatelessRandomNormalV2
StatelessRandomPoisson StatelessRandomUniformFullInt StatelessRandomUniformFullIntV2
StatelessRandomUniformIntV2 StatelessRandomUniformV2 StatelessSampleDistortedBoundingBox
StatelessShuffle StatelessTruncatedNormalV2 TPUPartitionedInput TPUPartitionedInputV2
TPUPartitionedOutput TPUPartitionedOutputV2 TensorMapErase TensorMapHasKey TensorMapInsert
TensorMapLookup TensorMapSize TensorMapStackKeys TensorScatterMax TensorScatterMin
ToBool TopKUnique TopKWithUnique UncompressElement UniformDequantize UniformQuantize
UniformQuantizedAdd UniformQuantizedClipByValue UniformQuantizedConvolution
UniformQuantizedConvolutionHybrid UniformQuantizedDot UniformQuantizedDotHybrid
UniformRequantize WindowOp XlaBroadcastHelper XlaCallModule XlaClusterOutput XlaConcatND
XlaConvV2 XlaDotV2 XlaDynamicSlice XlaDynamicUpdateSlice XlaEinsum XlaGather XlaIf
XlaKeyValueSort XlaLaunch XlaOptimizationBarrier XlaPad XlaReduce XlaReducePrecision
XlaReduceWindow XlaRemoveDynamicDimensionSize XlaReplicaId XlaRngBitGenerator XlaScatter
XlaSelectAndScatter XlaSelfAdjointEig XlaSetBound XlaSetDynamicDimensionSize XlaSharding
XlaSort XlaSplitND XlaSpmdFullToShardShape XlaSpmdShardToFullShape XlaSvd XlaVariadicReduceV2
XlaVariadicSort XlaWhile Xlog1py
`

// tfInternalOps are ops registered with a leading underscore that appear in
// graphs TensorFlow itself produces: function arguments and results, Grappler
// fusions, send/receive pairs.
const tfInternalOps = `
_Arg _ArrayToList _DeviceArg _DeviceRetval _FusedBatchNormEx _FusedConv2D
_FusedDepthwiseConv2dNative _FusedMatMul _HostCast _HostRecv _HostSend _If _ListToArray
_ParallelConcatStart _ParallelConcatUpdate _Recv _Retval _ScopedAllocator _ScopedAllocatorConcat
_ScopedAllocatorSplit _Send _SwitchN _UnaryOpsComposition _While
`
