package proxies

import (
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
)

var _ = register(Proxy{
	Name: "flops", Order: 110,
	Summary: "multiply-accumulates of the layers for one sample",
	Variant: Variant{Graph: GraphStatic},
	Reduce: func(s *scorer, _ *signals) (*ProxyResult, error) {
		if err := s.ensureShapes(); err != nil {
			return nil, err
		}
		scores := make([]float64, len(s.layers))
		for i, l := range s.layers {
			for _, o := range l.Outputs { // every use of a shared weight costs
				perSample := 1.0
				for axis, d := range s.shapes[o].Dims {
					if axis > 0 && d > 0 { // axis 0 is the batch
						perSample *= float64(d)
					}
				}
				scores[i] += perSample * float64(l.FanIn())
			}
		}
		return s.perLayer(scores), nil
	},
})

// ensureShapes finds tensor shapes at the scoring input size when no
// gradient graph did yet.
func (s *scorer) ensureShapes() error {
	if s.shapes != nil {
		return nil
	}
	xs, err := s.onesFeeds()
	if err != nil {
		return err
	}
	var find autodiff.ShapeFunc
	if len(xs) > 1 || len(xs[s.input.Name].Shape) == 0 {
		find = engine.ShapeFinderFor(shapesOf(xs), s.opts.Session)
	} else {
		find = engine.ShapeFinder(xs[s.input.Name].Shape[1:], s.opts.Session)
	}
	shapes, err := find(s.fwd)
	if err != nil {
		return err
	}
	s.shapes = shapes
	return nil
}

func hasOp(m *ox.Model, op string) bool {
	for _, n := range m.Graph().GetNode() {
		if n.GetOpType() == op {
			return true
		}
	}
	return false
}
