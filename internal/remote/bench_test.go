package remote_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/hub/hubtest"
	"github.com/modelgate/modelgate/internal/remote"
	"github.com/modelgate/modelgate/internal/scan"
)

// BenchmarkHubRepository scans a 6 GiB repository (three 2 GiB torch.save
// shards, a config, a tokenizer config, a README) served by the fake Hub on
// loopback, and reports the bytes transferred and the requests made per
// scan next to the repository's size.
//
//	go test -run '^$' -bench HubRepository ./internal/remote
func BenchmarkHubRepository(b *testing.B) {
	srv := hubtest.New()
	defer srv.Close()
	var files []hubtest.File
	var total int64
	for i := range 3 {
		size, gen := torchCheckpoint(b, stateDict(1<<29, false), 2<<30)
		files = append(files, hubtest.File{Path: fmt.Sprintf("pytorch_model-%05d-of-00003.bin", i+1), Size: size, Gen: gen,
			LFS: true, SHA256: strings.Repeat(fmt.Sprintf("%02x", i+1), 32)})
		total += size
	}
	for _, f := range []hubtest.File{
		{Path: "config.json", Content: []byte(`{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}`)},
		{Path: "tokenizer_config.json", Content: []byte(`{"chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}`)},
		{Path: "README.md", Content: []byte("# model\n")},
	} {
		files = append(files, f)
		total += int64(len(f.Content))
	}
	srv.AddRepo(hubtest.Repo{ID: "org/big", Files: files})
	b.ResetTimer()
	var served int64
	var requests int
	for b.Loop() {
		srv.Reset()
		src, res := remote.Scan(context.Background(), scan.New(), newClient(srv), "hf://org/big")
		if src.Error != "" || len(res) != 5 {
			b.Fatalf("%+v %+v", src, res)
		}
		for _, r := range res {
			if len(r.Errors) > 0 || len(r.Findings) > 0 && r.Findings[0].Severity.String() != "info" {
				b.Fatalf("%s: %v %v", r.Path, r.Errors, r.Findings)
			}
		}
		served = srv.BytesServed()
		requests = len(srv.Requests())
	}
	b.ReportMetric(float64(total), "repo-bytes")
	b.ReportMetric(float64(served), "transferred-bytes")
	b.ReportMetric(100*float64(served)/float64(total), "transferred-%")
	b.ReportMetric(float64(requests), "requests")
}
