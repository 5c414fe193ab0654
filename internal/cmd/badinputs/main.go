// Command badinputs writes the bad-model corpus (testdata/badmodels/) and
// the seed corpora of the fuzz targets (testdata/fuzz/ of onnximport,
// engine, data and ranking); see package internal/badinputs. Run it from
// the repository root:
//
//	go run ./internal/cmd/badinputs
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zerocost/zerocost/internal/badinputs"
)

func main() {
	root := flag.String("root", ".", "repository root to write under")
	flag.Parse()
	if _, err := os.Stat(*root + "/go.mod"); err != nil {
		fmt.Fprintf(os.Stderr, "badinputs: %s is not the repository root (no go.mod); run from the root or pass -root\n", *root)
		os.Exit(2)
	}
	if err := badinputs.Write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "badinputs:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d files\n", len(badinputs.Files()))
}
