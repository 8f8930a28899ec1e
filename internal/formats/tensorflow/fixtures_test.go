package tensorflow_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/ from the builders")

// fixture is one file of testdata/, made by the builders.
type fixture struct {
	path string // under testdata/
	data []byte
}

// fixtures are the committed files. Graphs follow what TensorFlow writes:
// TF2 SavedModels keep their ops in functions called through
// StatefulPartitionedCall, save through a "saver_filename" placeholder and
// StringJoin/ShardedFilename/SaveV2/MergeV2Checkpoints, restore through
// RestoreV2; TF1 SavedModels keep a save/Const fed through SaverDef and asset
// constants holding the export-time absolute path, fed through
// asset_file_def.
func fixtures() []fixture {
	return []fixture{
		{"benign/tf2/saved_model.pb", savedModel(metaGraph(tf2Graph(), ""))},
		{"benign/tf2/fingerprint.pb", fingerprintDef()},
		{"benign/tf2/variables/variables.index", bundleIndex([]bundleEntry{
			{"_CHECKPOINTABLE_OBJECT_GRAPH", nil, 40, 0},
			{"dense/bias/.ATTRIBUTES/VARIABLE_VALUE", []uint64{4}, 16, 40},
			{"dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", []uint64{8, 4}, 128, 56},
		})},
		{"benign/tf2/variables/variables.data-00000-of-00001", floatBytes(46)},
		{"benign/tf1/saved_model.pb", savedModel(metaGraph(tf1Graph(), "save/Const:0",
			assetDef{"asset_path:0", "vocab.txt"}))},
		{"benign/frozen_graph.pb", graph(frozenNodes(256))},
		{"benign/ckpt/checkpoint", []byte("model_checkpoint_path: \"ckpt-2\"\nall_model_checkpoint_paths: \"ckpt-1\"\nall_model_checkpoint_paths: \"ckpt-2\"\n")},

		{"malicious/readfile/saved_model.pb", savedModel(metaGraph(graph(
			[][]byte{placeholder("serving_default_x", 1), call("StatefulPartitionedCall", "__inference_serve_10", "serving_default_x")},
			function("__inference_serve_10", []string{"x"},
				constString("Const", "/etc/passwd"),
				node("ReadFile", "ReadFile", []string{"Const:output:0"}),
				node("Identity", "Identity", []string{"ReadFile:contents:0"})),
		), ""))},
		{"malicious/writefile.pb", graph([][]byte{
			constString("path", "/tmp/pwned"), constString("payload", "#!/bin/sh\nid\n"),
			node("write", "WriteFile", []string{"path", "payload"}),
		})},
		{"malicious/pyfunc.pb", graph([][]byte{
			placeholder("x", 1),
			node("py", "PyFunc", []string{"x"}, attr{"token", attrS("pyfunc_0")}),
		})},
		{"malicious/eagerpyfunc/saved_model.pb", savedModel(metaGraph(graph(
			[][]byte{placeholder("x", 1), call("StatefulPartitionedCall", "__inference_hook_7", "x")},
			function("__inference_hook_7", []string{"x"},
				node("EagerPyFunc", "EagerPyFunc", []string{"x"}, attr{"token", attrS("pyfunc_3")}, attr{"is_async", appendVarint(nil, 5, 0)})),
		), ""))},
		{"malicious/savev2-traversal/saved_model.pb", savedModel(metaGraph(graph([][]byte{
			constString("prefix", "../../../tmp/x"), constString("names", "v"), constString("slices", ""), constFloat("v", 4),
			node("save", "SaveV2", []string{"prefix", "names", "slices", "v"}),
		}), ""))},
		{"malicious/savev2-call-arg/saved_model.pb", savedModel(metaGraph(graph(
			[][]byte{constString("target", "/tmp/exfil"), call("StatefulPartitionedCall", "__inference_save_3", "target")},
			function("__inference_save_3", []string{"file_prefix"},
				constString("names", "v"), constString("slices", ""), constFloat("v", 4),
				node("SaveV2", "SaveV2", []string{"file_prefix", "names:output:0", "slices:output:0", "v:output:0"})),
		), ""))},
		{"malicious/savev2-stringjoin.pb", graph([][]byte{
			constString("dir", "/var/www/html/"), constString("file", "shell.php"),
			node("join", "StringJoin", []string{"dir", "file"}),
			constString("names", "v"), constString("slices", ""), constFloat("v", 4),
			node("save", "SaveV2", []string{"join", "names", "slices", "v"}),
		})},
		{"malicious/custom-op.pb", graph([][]byte{
			placeholder("x", 1), node("mine", "MyCustomOp", []string{"x"}), node("y", "Relu", []string{"mine"}),
		})},
		{"malicious/debug-identity.pb", graph([][]byte{
			placeholder("x", 1),
			node("dbg", "DebugIdentity", []string{"x"}, attr{"debug_urls", attrList("file:///tmp/tfdbg_dump")}),
		})},
		{"malicious/matchingfiles.pb", graph([][]byte{
			constString("glob", "/home/*/.ssh/id_*"), node("ls", "MatchingFiles", []string{"glob"}),
		})},
		{"malicious/printv2-file/saved_model.pb", savedModel(metaGraph(graph([][]byte{
			placeholder("x", 7),
			node("print", "PrintV2", []string{"x"}, attr{"output_stream", attrS("file:///home/user/.bashrc")}),
		}), ""))},
		{"malicious/asset-traversal/saved_model.pb", savedModel(metaGraph(graph([][]byte{
			constString("asset_path", "vocab.txt"), node("table", "HashTableV2", nil),
			node("init", "InitializeTableFromTextFileV2", []string{"table", "asset_path"}),
		}), "", assetDef{"asset_path:0", "../../../../etc/shadow"}))},
	}
}

// tf2Graph is a Keras-style TF2 SavedModel graph: a dense layer served
// through a function, save and restore functions fed by saver_filename.
func tf2Graph() []byte {
	return graph(
		[][]byte{
			placeholder("serving_default_x", 1),
			node("dense/kernel", "VarHandleOp", nil, attr{"dtype", attrType(1)}, attr{"shared_name", attrS("dense/kernel")}),
			node("dense/bias", "VarHandleOp", nil, attr{"dtype", attrType(1)}, attr{"shared_name", attrS("dense/bias")}),
			call("StatefulPartitionedCall", "__inference_signature_wrapper_100", "serving_default_x", "dense/kernel", "dense/bias"),
			placeholder("saver_filename", 7),
			call("StatefulPartitionedCall_1", "__inference__traced_save_200", "saver_filename", "dense/kernel", "dense/bias"),
			call("StatefulPartitionedCall_2", "__inference__traced_restore_300", "saver_filename", "dense/kernel", "dense/bias"),
			node("NoOp", "NoOp", nil),
		},
		function("__inference_signature_wrapper_100", []string{"x", "kernel", "bias"},
			node("MatMul/ReadVariableOp", "ReadVariableOp", []string{"kernel"}, attr{"dtype", attrType(1)}),
			node("MatMul", "MatMul", []string{"x", "MatMul/ReadVariableOp:value:0"}),
			node("BiasAdd/ReadVariableOp", "ReadVariableOp", []string{"bias"}, attr{"dtype", attrType(1)}),
			node("Add", "AddV2", []string{"MatMul:product:0", "BiasAdd/ReadVariableOp:value:0"}),
			node("Relu", "Relu", []string{"Add:z:0"}),
			node("Identity", "Identity", []string{"Relu:activations:0", "^MatMul/ReadVariableOp"})),
		function("__inference__traced_save_200", []string{"file_prefix", "kernel", "bias"},
			node("StaticRegexFullMatch", "StaticRegexFullMatch", []string{"file_prefix"}, attr{"pattern", attrS("^s3://.*")}),
			constString("Const", ".part"),
			constString("Const_1", "_temp/part"),
			node("Select", "Select", []string{"StaticRegexFullMatch:output:0", "Const:output:0", "Const_1:output:0"}),
			node("StringJoin", "StringJoin", []string{"file_prefix", "Select:output:0"}),
			node("num_shards", "Const", nil, attr{"dtype", attrType(3)}),
			node("ShardedFilename/shard", "Const", nil, attr{"dtype", attrType(3)}),
			node("ShardedFilename", "ShardedFilename", []string{"StringJoin:output:0", "ShardedFilename/shard:output:0", "num_shards:output:0"}),
			constString("SaveV2/tensor_names", "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", "dense/bias/.ATTRIBUTES/VARIABLE_VALUE"),
			constString("SaveV2/shape_and_slices", "", ""),
			node("DisableCopyOnRead", "DisableCopyOnRead", []string{"kernel"}),
			node("ReadVariableOp", "ReadVariableOp", []string{"kernel", "^DisableCopyOnRead"}),
			node("ReadVariableOp_1", "ReadVariableOp", []string{"bias"}),
			node("SaveV2", "SaveV2", []string{"ShardedFilename:filename:0", "SaveV2/tensor_names:output:0",
				"SaveV2/shape_and_slices:output:0", "ReadVariableOp:value:0", "ReadVariableOp_1:value:0"}),
			node("MergeV2Checkpoints/checkpoint_prefixes", "Pack", []string{"ShardedFilename:filename:0", "^SaveV2"}),
			node("MergeV2Checkpoints", "MergeV2Checkpoints", []string{"MergeV2Checkpoints/checkpoint_prefixes:output:0", "file_prefix"}),
			node("Identity", "Identity", []string{"file_prefix", "^MergeV2Checkpoints"})),
		function("__inference__traced_restore_300", []string{"file_prefix", "kernel", "bias"},
			constString("RestoreV2/tensor_names", "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", "dense/bias/.ATTRIBUTES/VARIABLE_VALUE"),
			constString("RestoreV2/shape_and_slices", "", ""),
			node("RestoreV2", "RestoreV2", []string{"file_prefix", "RestoreV2/tensor_names:output:0", "RestoreV2/shape_and_slices:output:0"}),
			node("AssignVariableOp", "AssignVariableOp", []string{"kernel", "RestoreV2:tensors:0"}),
			node("AssignVariableOp_1", "AssignVariableOp", []string{"bias", "RestoreV2:tensors:1"}),
			node("NoOp", "NoOp", []string{"^AssignVariableOp", "^AssignVariableOp_1"})),
	)
}

// tf1Graph is a TF1 estimator-style graph: variables, a tf.train.Saver whose
// filename constant the loader feeds, and a vocabulary table whose asset
// constant holds the export-time absolute path (fed through asset_file_def).
func tf1Graph() []byte {
	return graph([][]byte{
		placeholder("x", 1),
		node("a", "VariableV2", nil, attr{"dtype", attrType(1)}),
		node("a/read", "Identity", []string{"a"}),
		node("b", "VariableV2", nil, attr{"dtype", attrType(1)}),
		node("b/read", "Identity", []string{"b"}),
		node("Mul", "Mul", []string{"a/read", "x"}),
		node("y", "Add", []string{"Mul", "b/read"}),
		constString("asset_path", "/usr/local/google/home/export/assets/vocab.txt"),
		node("hash_table", "HashTableV2", nil),
		node("hash_table/table_init", "InitializeTableFromTextFileV2", []string{"hash_table", "asset_path"}),
		constString("save/Const", "model"),
		constString("save/SaveV2/tensor_names", "a", "b"),
		constString("save/SaveV2/shape_and_slices", "", ""),
		node("save/SaveV2", "SaveV2", []string{"save/Const", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices", "a", "b"}),
		node("save/control_dependency", "Identity", []string{"save/Const", "^save/SaveV2"}),
		node("save/RestoreV2", "RestoreV2", []string{"save/Const", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices"}),
		node("save/Assign", "Assign", []string{"a", "save/RestoreV2"}),
		node("save/Assign_1", "Assign", []string{"b", "save/RestoreV2:1"}),
		node("save/restore_all", "NoOp", []string{"^save/Assign", "^save/Assign_1"}),
	})
}

// frozenNodes is a frozen two-layer classifier; weights are Const tensors
// of n floats in tensor_content.
func frozenNodes(n int) [][]byte {
	return [][]byte{
		placeholder("input", 1),
		constFloat("w1", n), constFloat("b1", 16),
		node("MatMul", "MatMul", []string{"input", "w1"}),
		node("BiasAdd", "BiasAdd", []string{"MatMul", "b1"}),
		node("Relu", "Relu", []string{"BiasAdd"}),
		constFloat("w2", n), node("MatMul_1", "MatMul", []string{"Relu", "w2"}),
		node("Softmax", "Softmax", []string{"MatMul_1"}),
		node("output", "Identity", []string{"Softmax"}),
	}
}

// TestWriteFixtures rewrites testdata/ with -update, and otherwise checks
// that the committed files are what the builders make.
func TestWriteFixtures(t *testing.T) {
	var paths []string
	for _, f := range fixtures() {
		p := filepath.Join("testdata", filepath.FromSlash(f.path))
		paths = append(paths, f.path)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/formats/tensorflow -run TestWriteFixtures -update)", err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s differs from what the builders make (run with -update)", f.path)
		}
	}
	sort.Strings(paths)
	if len(paths) < 15 {
		t.Errorf("only %d fixtures", len(paths))
	}
}
