// Command fakehub serves local directories as Hugging Face Hub repositories
// with the in-repo fake Hub (internal/hub/hubtest), so that the real
// modelgate binary can be tried end to end without the network:
//
//	go run ./internal/hub/hubtest/fakehub -repo org/evil=internal/formats/picklefile/testdata/malicious &
//	HF_ENDPOINT=$(cat /tmp/fakehub.url) modelgate scan hf://org/evil
//
// It prints the server's URL on standard output (and to -url-file), then
// serves until interrupted. Files of 1 MiB or more are served as LFS files.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/modelgate/modelgate/internal/hub/hubtest"
)

type repos []string

func (r *repos) String() string     { return strings.Join(*r, ",") }
func (r *repos) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var rs repos
	flag.Var(&rs, "repo", "ORG/NAME=DIR: serve DIR's files as that model repository (repeatable; datasets/ORG/NAME for a dataset)")
	urlFile := flag.String("url-file", "", "also write the URL to this file")
	gated := flag.Bool("gated", false, "make every repository gated (token: "+hubtest.DefaultToken+")")
	flag.Parse()
	if len(rs) == 0 {
		log.Fatal("fakehub: give at least one -repo ORG/NAME=DIR")
	}
	srv := hubtest.New()
	defer srv.Close()
	for _, spec := range rs {
		id, dir, ok := strings.Cut(spec, "=")
		if !ok {
			log.Fatalf("fakehub: %q is not ORG/NAME=DIR", spec)
		}
		typ := "model"
		if rest, ok := strings.CutPrefix(id, "datasets/"); ok {
			typ, id = "dataset", rest
		}
		var files []hubtest.File
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			files = append(files, hubtest.File{Path: filepath.ToSlash(rel), Content: b, LFS: len(b) >= 1<<20})
			return nil
		})
		if err != nil {
			log.Fatalf("fakehub: %v", err)
		}
		commit := srv.AddRepo(hubtest.Repo{Type: typ, ID: id, Files: files, Gated: *gated})
		log.Printf("fakehub: %s %s: %d files at commit %s", typ, id, len(files), commit)
	}
	fmt.Println(srv.URL)
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(srv.URL+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
