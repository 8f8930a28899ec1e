package onnx_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/formats/onnx"
)

// extTensor is a float tensor with external_data entries kv (key, value
// pairs in order) and data_location EXTERNAL when external is set.
func extTensor(name string, external bool, kv ...string) msg {
	t := msg{}.varint(fTensorDims, 4).varint(fTensorType, floatType).str(fTensorName, name)
	for i := 0; i+1 < len(kv); i += 2 {
		t = t.bytes(fTensorExt, msg{}.str(1, kv[i]).str(2, kv[i+1]))
	}
	if external {
		t = t.varint(fTensorLoc, 1)
	}
	return t
}

func externalTensors(t *testing.T, m msg) ([]onnx.ExternalTensor, error) {
	t.Helper()
	ts, err := onnx.ExternalTensors(context.Background(), bytes.NewReader(m), int64(len(m)))
	for i := range ts {
		ts[i].At = 0 // positions are checked separately
	}
	return ts, err
}

// ExternalTensors reports the entries loaders use for every tensor with
// external data: initializers, Constant attributes, sparse tensors and
// subgraphs alike.
func TestExternalTensors(t *testing.T) {
	g := graph(graphSpec{
		name: "g",
		nodes: []msg{
			node(nodeSpec{op: "Constant", out: []string{"C"}, attrs: []msg{tensorAttr("value", extTensor("c", true, "location", "d.bin", "offset", "8", "length", "16"))}}),
			node(nodeSpec{op: "If", in: []string{"B"}, out: []string{"Z"}, attrs: []msg{graphAttr("then_branch", graph(graphSpec{
				name: "then", inits: []msg{extTensor("sub", true, "location", "d.bin", "offset", "24")},
			}))}}),
		},
		inits: []msg{
			extTensor("a", true, "location", "d.bin", "length", "8"),
			extTensor("last-wins", true, "location", "x.bin", "offset", "1", "location", "d.bin", "offset", "2", "length", "3", "length", "4"),
			extTensor("empty", true, "location", "d.bin", "offset", "", "length", ""),
			extTensor("spaces", true, "location", "d.bin", "offset", " 5 ", "length", "6\n"),
			extTensor("bad", true, "location", "d.bin", "offset", "1e3", "length", "-1"),
			extTensor("ignored", false, "location", "d.bin"),
			extTensor("checksum", true, "location", "d.bin", "checksum", "abc"),
			rawTensor("inline", 4),
		},
	})
	ts, err := externalTensors(t, model(8, g, onnx17))
	if err != nil {
		t.Fatal(err)
	}
	want := []onnx.ExternalTensor{
		{Name: "c", Location: "d.bin", Offset: 8, Length: 16, External: true},
		{Name: "sub", Location: "d.bin", Offset: 24, Length: -1, External: true},
		{Name: "a", Location: "d.bin", Length: 8, External: true},
		{Name: "last-wins", Location: "d.bin", Offset: 2, Length: 4, External: true},
		{Name: "empty", Location: "d.bin", Length: -1, External: true},
		{Name: "spaces", Location: "d.bin", Offset: 5, Length: 6, External: true},
		{Name: "bad", Location: "d.bin", Length: -1, External: true, Bad: `offset "1e3" is not a byte count, length -1 is negative`},
		{Name: "ignored", Location: "d.bin", Length: -1},
		{Name: "checksum", Location: "d.bin", Length: -1, External: true},
	}
	if !reflect.DeepEqual(ts, want) {
		t.Errorf("got  %+v\nwant %+v", ts, want)
	}
	long := strings.Repeat("a", 70<<10)
	ts, err = externalTensors(t, model(8, graph(graphSpec{name: "g", inits: []msg{extTensor("t", true, "location", long, "offset", long)}}), onnx17))
	if err != nil || len(ts) != 1 || !ts[0].Truncated || !strings.Contains(ts[0].Bad, "offset is longer than any number") {
		t.Errorf("long entries: %v %+v", err, ts)
	}
}

// The position of a location value is where it sits in the model file.
func TestExternalTensorsPosition(t *testing.T) {
	m := model(8, graph(graphSpec{name: "g", inits: []msg{extTensor("t", true, "location", "model.onnx_data")}}), onnx17)
	ts, err := onnx.ExternalTensors(context.Background(), bytes.NewReader(m), int64(len(m)))
	if err != nil || len(ts) != 1 || string(m[ts[0].At:ts[0].At+int64(len("model.onnx_data"))]) != "model.onnx_data" {
		t.Errorf("%v %+v", err, ts)
	}
}

// A model that does not parse to its end is an error, with what was found
// before the fault; the fixtures' external-data model reads cleanly.
func TestExternalTensorsErrors(t *testing.T) {
	m := model(8, graph(graphSpec{name: "g", inits: []msg{extTensor("t", true, "location", "w.bin"), rawTensor("r", 64)}}), onnx17)
	ts, err := onnx.ExternalTensors(context.Background(), bytes.NewReader(m[:len(m)-40]), int64(len(m)-40))
	if err == nil || !strings.Contains(err.Error(), "malformed ONNX protobuf") || len(ts) != 1 {
		t.Errorf("truncated: %v %+v", err, ts)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "benign", "external-relative.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err = onnx.ExternalTensors(context.Background(), bytes.NewReader(b), int64(len(b)))
	if err != nil || len(ts) != 1 || ts[0].Location != "weights/W.bin" || ts[0].Length != 16 || !ts[0].External {
		t.Errorf("fixture: %v %+v", err, ts)
	}
}
