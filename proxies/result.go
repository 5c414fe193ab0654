package proxies

import ox "github.com/zerocost/zerocost/onnximport"

// LayerScore is one layer's score under one proxy.
type LayerScore struct {
	Node  string `json:"node"`
	Op    string `json:"op"`
	Param string `json:"param"`
	// SharedBy lists every node that reads Param when there are several
	// (a shared weight is one parameter, scored once).
	SharedBy []string `json:"shared_by,omitempty"`
	Shape    []int64  `json:"shape"`
	Score    float64  `json:"score"`
	Log10    *float64 `json:"log10,omitempty"` // synflow and synflow_bn
}

func newLayerScore(l ox.Layer, score float64) LayerScore {
	ls := LayerScore{Node: l.Node, Op: l.Op, Param: l.Param, Shape: l.Shape, Score: score}
	if l.Shared() {
		ls.SharedBy = l.Nodes
	}
	return ls
}

// ProxyResult is one proxy's score of a model.
type ProxyResult struct {
	Score float64 `json:"score"`
	// Log10 is log10 of the score, for synflow and synflow_bn (whose values
	// may exceed float64 in principle; the log is always finite).
	Log10 *float64 `json:"log10,omitempty"`
	// TimeMS is the wall time of the ONNX Runtime runs and reductions the
	// proxy needed (runs shared with other proxies are counted in full).
	TimeMS float64      `json:"time_ms"`
	Layers []LayerScore `json:"layers,omitempty"`
}

// Result is the scoring of one model.
type Result struct {
	Model      string                  `json:"model"`
	SHA256     string                  `json:"sha256"`
	InputShape []int64                 `json:"input_shape"`
	Proxies    map[string]*ProxyResult `json:"proxies"`
	Errors     map[string]string       `json:"errors,omitempty"`
	// Notes are facts about the model and how it was read that change what
	// the scores mean (an eval-mode export, an upgraded opset, a converted
	// precision), each with what to do about it.
	Notes []string `json:"notes,omitempty"`
}
