// Command fixture2onnx writes a complete ONNX file from a PyTorch reference
// fixture of testdata/torch (whose large weights are stored as seeds), for
// trying zerocost on the same networks the tests use:
//
//	go run ./internal/cmd/fixture2onnx resnet18 train /tmp/resnet18.onnx
package main

import (
	"fmt"
	"os"

	"github.com/zerocost/zerocost/internal/torchfixture"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: fixture2onnx NAME train|eval OUT.onnx (NAME: a folder of testdata/torch without _train/_eval)")
		os.Exit(2)
	}
	fx, err := torchfixture.Load(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	data, err := fx.Model.Marshal()
	if err == nil {
		err = os.WriteFile(os.Args[3], data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s_%s, input %v)\n", os.Args[3], fx.Name, fx.Mode, fx.Input.Shape)
}
