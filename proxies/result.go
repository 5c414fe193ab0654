package proxies

// LayerScore is one layer's score under one proxy.
type LayerScore struct {
	Node  string   `json:"node"`
	Op    string   `json:"op"`
	Param string   `json:"param"`
	Shape []int64  `json:"shape"`
	Score float64  `json:"score"`
	Log10 *float64 `json:"log10,omitempty"` // synflow and synflow_bn
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
}
