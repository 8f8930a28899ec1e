package tensordata_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/hub/hubtest"
	"github.com/modelgate/modelgate/internal/remote"
	"github.com/modelgate/modelgate/internal/scan"
)

const mib = 1 << 20

func fakeSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// An onnx-community style repository (onnx/model.onnx + onnx/model.onnx_data,
// 64 MiB of external data each; hubtest generates the bytes, so they cost
// nothing), an OpenVINO IR and a TF.js model served by the fake Hub: every
// data file comes back as tensor-data, fully analysed, while under 1 % of the
// data crosses the network (the engine's sniffing read of the head, which
// the Hub client rounds to 128 KiB; never the tensors). The gate's per-file path (remote.File, no listing)
// confirms the data file the same way.
func TestRemoteRepository(t *testing.T) {
	const dataSize = 64 * mib
	fixtureData := read(t, "benign/onnx/model.onnx_data")
	// A model whose second tensor spans the whole multi-MiB file, aligned
	// the way onnx ≥ 1.15 aligns large tensors.
	big := onnxModel(tensor("w", true, "location", "model_big.onnx_data", "offset", "0", "length", "48"),
		tensor("emb", true, "location", "model_big.onnx_data", "offset", "4096", "length", "67104768"))
	files := []hubtest.File{
		{Path: "README.md", Content: []byte("# tiny\n")},
		{Path: "config.json", Content: []byte(`{"model_type": "tiny"}`)},
		{Path: "onnx/model.onnx", Content: read(t, "benign/onnx/model.onnx")},
		{Path: "onnx/model.onnx_data", Size: dataSize, Gen: hubtest.Sparse(dataSize, map[int64][]byte{0: fixtureData}), LFS: true, SHA256: fakeSHA("a")},
		{Path: "onnx/model_big.onnx", Content: big},
		{Path: "onnx/model_big.onnx_data", Size: dataSize, Gen: hubtest.Sparse(dataSize, map[int64][]byte{0: fixtureData}), LFS: true, SHA256: fakeSHA("b")},
		{Path: "openvino/openvino_model.xml", Content: read(t, "benign/openvino/openvino_model.xml")},
		{Path: "openvino/openvino_model.bin", Content: read(t, "benign/openvino/openvino_model.bin"), LFS: true},
		{Path: "tfjs/model.json", Content: read(t, "benign/tfjs/model.json")},
		{Path: "tfjs/group1-shard1of2.bin", Content: read(t, "benign/tfjs/group1-shard1of2.bin"), LFS: true},
		{Path: "tfjs/group1-shard2of2.bin", Content: read(t, "benign/tfjs/group1-shard2of2.bin"), LFS: true},
	}
	srv := hubtest.New()
	defer srv.Close()
	commit := srv.AddRepo(hubtest.Repo{ID: "onnx-community/tiny-ONNX", Files: files})
	c := hub.New(srv.URL, "", 0)
	c.Backoff, c.MaxBackoff = time.Millisecond, 10*time.Millisecond

	src, res := remote.Scan(context.Background(), scan.New(), c, "hf://onnx-community/tiny-ONNX")
	if src.Error != "" {
		t.Fatal(src.Error)
	}
	formats := map[string]string{}
	for _, r := range res {
		name := r.Path[strings.Index(r.Path, commit)+len(commit)+1:]
		formats[name] = r.Format
		if len(r.Errors) > 0 || worst(r.Findings) >= finding.Medium {
			t.Errorf("%s: %s", name, describe(r))
		}
	}
	for _, name := range []string{"onnx/model.onnx_data", "onnx/model_big.onnx_data", "openvino/openvino_model.bin",
		"tfjs/group1-shard1of2.bin", "tfjs/group1-shard2of2.bin"} {
		if formats[name] != "tensor-data" {
			t.Errorf("%s: format %q (all: %v)", name, formats[name], formats)
		}
	}
	if src.Transferred*50 > 2*dataSize {
		t.Errorf("%d bytes transferred for %d bytes of external data (want under 1 %%)", src.Transferred, 2*dataSize)
	}
	t.Logf("%d files, %d bytes, %d transferred (%.3f %%)", src.Files, src.Size, src.Transferred, 100*float64(src.Transferred)/float64(src.Size))

	// The gate asks about one file at a time, at a pinned commit, without a
	// listing: the sibling is found by asking the Hub for it.
	ref, err := hub.ParseRef("hf://onnx-community/tiny-ONNX")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"onnx/model_big.onnx_data", "openvino/openvino_model.bin"} {
		meta, err := c.Head(context.Background(), c.ResolveURL(ref, commit, file))
		if err != nil {
			t.Fatal(err)
		}
		before := srv.BytesServed()
		r := remote.File(context.Background(), scan.New(), c, ref, commit, file, meta)
		if r.Format != "tensor-data" || len(r.Errors) > 0 || worst(r.Findings) >= finding.Medium {
			t.Errorf("remote.File %s: %s", file, describe(r))
		}
		if !strings.Contains(r.Findings[0].Message, "raw tensor bytes for "+strings.TrimSuffix(path.Base(file), path.Ext(path.Base(file)))) {
			t.Errorf("remote.File %s: %s", file, describe(r))
		}
		if served := srv.BytesServed() - before; served*100 > meta.Size && meta.Size > mib {
			t.Errorf("remote.File %s: %d of %d bytes served", file, served, meta.Size)
		}
	}

	// The same data file without its model: not analysed, as any unknown file.
	srv.AddRepo(hubtest.Repo{ID: "org/orphan", Files: []hubtest.File{
		{Path: "onnx/model.onnx_data", Size: dataSize, Gen: hubtest.Sparse(dataSize, nil), LFS: true, SHA256: fakeSHA("c")},
	}})
	_, res = remote.Scan(context.Background(), scan.New(), c, "hf://org/orphan")
	if len(res) != 1 || res[0].Format != "unknown" || len(res[0].Errors) != 1 ||
		!strings.Contains(res[0].Errors[0], "no sibling ONNX model references it") {
		t.Errorf("orphan: %+v", res)
	}
}
