package testort

import (
	"testing"

	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Run runs m once in a fresh session on feeds and returns every output,
// failing the test on any error.
func Run(tb testing.TB, m *ox.Model, feeds map[string]*runtime.Tensor) map[string]*runtime.Tensor {
	tb.Helper()
	raw, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := runtime.NewSession(raw, runtime.SessionOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Destroy()
	out, err := s.Run(feeds)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
