// Package runtime provides the one bridge between zerocost and ONNX Runtime.
//
// It is the only package that imports github.com/yalue/onnxruntime_go. It
// locates and loads the ONNX Runtime shared library (see Locate for the
// search order), keeps one ONNX Runtime environment per process, opens
// sessions from ONNX bytes on the cpu or cuda execution provider, and moves
// float32, float64 and int64 tensors in and out.
//
// A typical use:
//
//	if err := runtime.Init(""); err != nil { ... }   // "" searches the default places
//	s, err := runtime.NewSession(modelBytes, runtime.SessionOptions{Provider: runtime.CPU, Threads: 2})
//	if err != nil { ... }
//	defer s.Destroy()
//	outs, err := s.Run(map[string]*runtime.Tensor{"x": runtime.NewFloat32([]int64{1, 3, 32, 32}, data)})
//
// Every native object is released on every path: sessions by Destroy, and the
// tensors of a Run before Run returns (outputs are copied into Go memory).
package runtime
