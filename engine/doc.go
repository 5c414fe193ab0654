// Package engine provides gradient sessions: it finds the shape of every
// tensor of a model by running it in ONNX Runtime, builds the gradient graph
// with package autodiff, and runs forward and backward together.
//
// It sits between autodiff (which knows graphs but runs nothing) and the
// proxies (which know what to compute but build no graphs):
//
//	g, err := engine.NewGradient(model, engine.Options{
//		Request: autodiff.Request{WRT: params, Head: autodiff.HeadCrossEntropy},
//		InputShape: []int64{3, 32, 32},
//	})
//	defer g.Destroy()
//	out, err := g.Run(feeds) // forward outputs, loss and gradients by name
//
// CheckGradients compares a gradient graph with central finite differences;
// it backs `zerocost gradcheck` and the tests of every gradient rule.
package engine
