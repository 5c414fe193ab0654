// Package testort provides the one way tests load ONNX Runtime: a test that
// needs it calls Init, which fails the test when CI=true and the library
// cannot be loaded, and skips it (saying how to install the library) otherwise.
package testort

import (
	"os"
	"testing"

	"github.com/zerocost/zerocost/runtime"
)

// Init loads ONNX Runtime for a test.
func Init(tb testing.TB) {
	tb.Helper()
	err := runtime.Init("")
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true and ONNX Runtime cannot be loaded: %v", err)
	}
	tb.Skipf("ONNX Runtime not available (run make setup): %v", err)
}
