package proxies

import "fmt"

// linear_regions is TE-NAS's number of linear regions (Chen et al., ICLR
// 2021; VITA-Group/TENAS linear_region_counter.py). Per repeat: every layer
// weight Kaiming-normal (fan-in), biases 0, BatchNormalization γ = 1 and
// β = 0 (kaiming_normal_fanin_init), train mode; a forward pass of 1000
// seeded N(0,1) inputs of the model's channels × 3 × 3; the sign pattern of
// every sample over the neurons of the Relu nodes with 4-D inputs
// (TE-NAS hooks nn.ReLU modules with 4-D inputs); score = the number of
// distinct patterns among the 1000 samples (calc_LR's Σ 1/|same pattern|).
// The signs are packed in the graph, 52 to a float64 per sample and Relu,
// and the distinct patterns counted in Go. The model score is the mean over
// 3 repeats (Options.Repeats).
//
// TE-NAS counts on a thin copy of its supernet (one channel per cell
// input, one cell per stage, no stem) fed 3 batches of 1000 single-channel
// 3×3 crops of real images; an ONNX model has no thin copy, so zerocost
// counts on the model itself, which has many more neurons per sample: on
// wide networks nearly every sample gets its own pattern (the count
// approaches 1000). A model that cannot run at 3×3 (a Reshape to a fixed
// size, a pooling window larger than its input) fails with ONNX Runtime's
// message naming the node.
var _ = register(Proxy{
	Name: "linear_regions", Order: 235,
	Summary: "TE-NAS: distinct ReLU sign patterns of 1000 N(0,1) C×3×3 inputs, Kaiming init, 3 repeats",
	Variant: Variant{Graph: GraphData, Head: HeadOutputSum, BN: BNKeepTrain, Init: InitKaimingFanIn, Input: InputNormal, Batch: 1000, InputHW: 3, Repeats: 3},
	Signals: Signals{RegionPatterns: true},
	Check:   checkRelu4,
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("linear_regions: the sign patterns of 1000 samples over the neurons of %d Relu nodes with 4-D inputs, mean over %d repeats", sig.reluNodes, len(sig.runs)))
		return &ProxyResult{Score: meanPatterns(sig)}, nil
	},
})
