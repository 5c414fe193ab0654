package engine_test

import (
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	"github.com/zerocost/zerocost/runtime"
)

// benchCase runs forward alone and forward+backward (gradients of every
// parameter and of the input, cross-entropy head, train-mode BN) on one
// fixture network at a batch size. The ratio of the two ns/op figures is the
// cost of the gradient graph.
func benchGradient(b *testing.B, name string, batch int64, backward bool) {
	testort.Init(b)
	fx, err := torchfixture.Load(name, "train")
	if err != nil {
		b.Fatal(err)
	}
	wrt := fx.GradNames()
	shape := append([]int64{batch}, fx.Input.Shape[1:]...)
	opts := runtime.SessionOptions{Threads: 2}
	g, err := engine.NewGradient(fx.Model, engine.Options{
		Request:    autodiff.Request{WRT: wrt, Head: autodiff.HeadCrossEntropy},
		InputShape: shape,
		Session:    opts,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Destroy()
	x := data.RandomNormal(shape, 1)
	labels := make([]int64, batch)
	feeds := map[string]*runtime.Tensor{fx.Input.Name: x, g.Labels: runtime.NewInt64([]int64{batch}, labels)}
	run := g.Run
	if !backward {
		data, err := g.Forward.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		opts.Optimization = "extended"
		s, err := runtime.NewSession(data, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Destroy()
		feeds = map[string]*runtime.Tensor{fx.Input.Name: x}
		run = s.Run
	}
	if _, err := run(feeds); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := run(feeds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResnet18Batch16Forward(b *testing.B)         { benchGradient(b, "resnet18", 16, false) }
func BenchmarkResnet18Batch16ForwardBackward(b *testing.B) { benchGradient(b, "resnet18", 16, true) }
func BenchmarkNB201Batch64Forward(b *testing.B)            { benchGradient(b, "nb201_a", 64, false) }
func BenchmarkNB201Batch64ForwardBackward(b *testing.B)    { benchGradient(b, "nb201_a", 64, true) }

// benchBuild measures building the gradient graph (normalisation, rules and
// serialisation), given the shapes; shape discovery is one ONNX Runtime run
// and is measured separately.
func benchBuild(b *testing.B, name string, discover bool) {
	testort.Init(b)
	fx, err := torchfixture.Load(name, "train")
	if err != nil {
		b.Fatal(err)
	}
	wrt := fx.GradNames()
	req := autodiff.Request{WRT: wrt, Head: autodiff.HeadCrossEntropy}
	fwd, err := autodiff.Normalize(fx.Model, req.BN)
	if err != nil {
		b.Fatal(err)
	}
	finder := engine.ShapeFinder(fx.Input.Shape[1:], runtime.SessionOptions{Threads: 2})
	shapes, err := finder(fwd)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if discover {
			if _, err := finder(fwd); err != nil {
				b.Fatal(err)
			}
			continue
		}
		f, err := autodiff.Normalize(fx.Model, req.BN)
		if err != nil {
			b.Fatal(err)
		}
		res, err := autodiff.BuildNormalized(f, req, shapes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := res.Model.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildDensenet121(b *testing.B)          { benchBuild(b, "densenet121", false) }
func BenchmarkBuildVitB16(b *testing.B)               { benchBuild(b, "vit_b_16", false) }
func BenchmarkShapeDiscoveryDensenet121(b *testing.B) { benchBuild(b, "densenet121", true) }
func BenchmarkShapeDiscoveryVitB16(b *testing.B)      { benchBuild(b, "vit_b_16", true) }
