package keras

import "strings"

// knownClasses are the class names Keras 1, Keras 2 and tf.keras resolve
// without custom_objects: layers, models, initializers, regularizers,
// constraints, optimizers, learning-rate schedules, losses, metrics and
// dtype policies. A module-less object whose class_name is not here can
// only be loaded with code supplied by the loading program (a custom
// object). Keras 3 configs name a module for every object and do not need
// this list.
var knownClasses = set(`
Sequential Model Functional InputLayer Input Layer InputSpec
Dense Activation Dropout Flatten Reshape Permute RepeatVector Lambda ActivityRegularization Masking
SpatialDropout1D SpatialDropout2D SpatialDropout3D Identity EinsumDense Embedding
Conv1D Conv2D Conv3D SeparableConv1D SeparableConv2D DepthwiseConv1D DepthwiseConv2D
Conv1DTranspose Conv2DTranspose Conv3DTranspose Cropping1D Cropping2D Cropping3D
UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
Convolution1D Convolution2D Convolution3D Deconvolution2D Deconvolution3D
SeparableConvolution1D SeparableConvolution2D Convolution2DTranspose Convolution3DTranspose
AtrousConvolution1D AtrousConvolution2D
MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D
GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
MaxPool1D MaxPool2D MaxPool3D AvgPool1D AvgPool2D AvgPool3D
GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalAvgPool1D GlobalAvgPool2D GlobalAvgPool3D
LocallyConnected1D LocallyConnected2D
RNN SimpleRNN GRU LSTM SimpleRNNCell GRUCell LSTMCell StackedRNNCells PeepholeLSTMCell
CuDNNGRU CuDNNLSTM ConvLSTM1D ConvLSTM2D ConvLSTM3D ConvLSTM2DCell ConvRNN2D Recurrent ConvRecurrent2D
GRUV1 GRUV2 LSTMV1 LSTMV2 UnifiedGRU UnifiedLSTM
BatchNormalization BatchNormalizationV1 BatchNormalizationV2 SyncBatchNormalization LayerNormalization
GroupNormalization UnitNormalization SpectralNormalization RMSNormalization
GaussianNoise GaussianDropout AlphaDropout
LeakyReLU PReLU ELU ThresholdedReLU Softmax ReLU
Bidirectional TimeDistributed Wrapper
Add Subtract Multiply Average Maximum Minimum Concatenate Dot Merge
MaxoutDense Highway
Attention AdditiveAttention MultiHeadAttention GroupQueryAttention
CategoryEncoding CategoryCrossing Discretization Hashing HashedCrossing IntegerLookup StringLookup TextVectorization
Normalization Rescaling Resizing CenterCrop RandomCrop RandomFlip RandomRotation RandomTranslation RandomZoom
RandomContrast RandomHeight RandomWidth RandomBrightness
Bidirectional DenseFeatures Cropping
Zeros Ones Constant RandomNormal RandomUniform TruncatedNormal VarianceScaling Orthogonal Identity
GlorotNormal GlorotUniform HeNormal HeUniform LecunNormal LecunUniform
Zeros Ones ZerosV2 OnesV2 ConstantV2 RandomNormalV2 RandomUniformV2 TruncatedNormalV2 VarianceScalingV2 OrthogonalV2 IdentityV2
GlorotNormalV2 GlorotUniformV2 HeNormalV2 HeUniformV2 LecunNormalV2 LecunUniformV2
zeros ones constant uniform normal random_normal random_uniform truncated_normal orthogonal identity
glorot_normal glorot_uniform he_normal he_uniform lecun_normal lecun_uniform
Regularizer L1L2 L1 L2 OrthogonalRegularizer
Constraint MaxNorm NonNeg UnitNorm MinMaxNorm RadialConstraint max_norm non_neg unit_norm min_max_norm
SGD RMSprop Adagrad Adadelta Adam Adamax Nadam Ftrl AdamW Lion Adafactor LossScaleOptimizer TFOptimizer Optimizer
LossScaleOptimizerV1 LossScaleOptimizerV3
ExponentialDecay PiecewiseConstantDecay PolynomialDecay InverseTimeDecay CosineDecay CosineDecayRestarts
LinearCosineDecay NoisyLinearCosineDecay LearningRateSchedule
Loss LossFunctionWrapper MeanSquaredError MeanAbsoluteError MeanAbsolutePercentageError MeanSquaredLogarithmicError
BinaryCrossentropy BinaryFocalCrossentropy CategoricalCrossentropy CategoricalFocalCrossentropy SparseCategoricalCrossentropy
KLDivergence Poisson CosineSimilarity Hinge SquaredHinge CategoricalHinge Huber LogCosh CTC Dice Tversky Circle
Metric MeanMetricWrapper Mean Sum MeanTensor Accuracy BinaryAccuracy CategoricalAccuracy SparseCategoricalAccuracy
TopKCategoricalAccuracy SparseTopKCategoricalAccuracy AUC Precision Recall PrecisionAtRecall RecallAtPrecision
SensitivityAtSpecificity SpecificityAtSensitivity TruePositives TrueNegatives FalsePositives FalseNegatives
MeanIoU IoU BinaryIoU OneHotIoU OneHotMeanIoU RootMeanSquaredError LogCoshError R2Score F1Score FBetaScore
MeanRelativeError
Policy PolicyV1 DTypePolicy FloatDTypePolicy QuantizedDTypePolicy QuantizedFloat8DTypePolicy
`)

// builtinFunctions are the functions Keras finds by name among its own
// activations, losses and metrics (Keras 3 writes them with module
// "builtins" when a config names one as an object).
var builtinFunctions = set(`
relu relu6 sigmoid softmax log_softmax tanh elu selu softplus softsign swish silu gelu exponential
hard_sigmoid hard_silu hard_swish linear leaky_relu mish celu glu sparse_plus sparsemax squareplus
tanh_shrink threshold soft_shrink hard_shrink hard_tanh log_sigmoid sparse_sigmoid
mean_squared_error mse MSE mean_absolute_error mae MAE mean_absolute_percentage_error mape MAPE
mean_squared_logarithmic_error msle MSLE binary_crossentropy categorical_crossentropy
sparse_categorical_crossentropy binary_focal_crossentropy categorical_focal_crossentropy
kl_divergence kld KLD kullback_leibler_divergence poisson cosine_similarity cosine_proximity
hinge squared_hinge categorical_hinge huber huber_loss log_cosh logcosh ctc dice tversky circle
accuracy acc binary_accuracy categorical_accuracy sparse_categorical_accuracy
top_k_categorical_accuracy sparse_top_k_categorical_accuracy
`)

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}
