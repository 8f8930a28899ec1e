package pickle_test

import (
	"bytes"
	"testing"

	"github.com/modelgate/modelgate/internal/pickle"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// TestOnStopOnItems: OnStop sees each pickle's value; OnItems sees the
// SETITEMS added to an instance (OrderedDict()), which the VM itself does
// not keep, and to plain containers.
func TestOnStopOnItems(t *testing.T) {
	p := pt.New().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().
		Mark().Str("a").Int(1).Str("b").EmptyList().Int(2).Append().Raw('u').Stop().
		Proto(2).Int(7).Stop()
	b := p.Bytes()
	var stops []pickle.Value
	var batches [][]pickle.Value
	var targets []pickle.Kind
	res := pickle.Run(bytes.NewReader(b), 0, int64(len(b)), pickle.Options{
		OnStop: func(i int, _ int64, v pickle.Value) { stops = append(stops, v) },
		OnItems: func(op byte, _ int64, target pickle.Value, items []pickle.Value) {
			batches = append(batches, append([]pickle.Value(nil), items...))
			targets = append(targets, target.Kind)
		},
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(stops) != 2 || stops[0].Kind != pickle.KindCall || stops[1].Kind != pickle.KindInt || stops[1].Int != 7 {
		t.Fatalf("stops %+v", stops)
	}
	// APPEND to the list first, then SETITEMS on the OrderedDict.
	if len(batches) != 2 || targets[0] != pickle.KindList || len(batches[0]) != 1 ||
		targets[1] != pickle.KindCall || len(batches[1]) != 4 || batches[1][0].Str != "a" {
		t.Fatalf("items %v %+v", targets, batches)
	}
}
