// Package torchfixture reads the PyTorch reference fixtures written by
// testdata/torch/gen_fixtures.py: a model whose large weights were stripped,
// the seeds that regenerate them bit for bit, the input batch, the labels and
// PyTorch autograd's reference values (see testdata/torch/README.md).
package torchfixture

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"google.golang.org/protobuf/proto"
)

// Fixture is one <name>_<mode> folder.
type Fixture struct {
	Name       string `json:"name"`
	Mode       string `json:"mode"`
	Opset      int    `json:"opset"`
	NumClasses int    `json:"num_classes"`
	Input      struct {
		Name  string  `json:"name"`
		Shape []int64 `json:"shape"`
		Seed  uint64  `json:"seed"`
		Low   float64 `json:"low"`
		High  float64 `json:"high"`
	} `json:"input"`
	Labels  []int64  `json:"labels"`
	Weights []Weight `json:"weights"`
	// Reference is nil for eval-mode fixtures.
	Reference *Reference `json:"reference"`

	Model *ox.Model `json:"-"`
}

// Weight says how to regenerate one stripped initializer.
type Weight struct {
	Name string  `json:"name"`
	Seed uint64  `json:"seed"`
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// Reference holds PyTorch's float64 results on the same weights and batch.
type Reference struct {
	Loss   float64     `json:"loss"`
	Logits [][]float64 `json:"logits"`
	Grads  []Grad      `json:"grads"`
}

// Grad is a sampled gradient: its full L2 norm and the values at Index.
type Grad struct {
	Name  string    `json:"name"`
	Shape []int64   `json:"shape"`
	Norm  float64   `json:"norm"`
	Index []int     `json:"index"`
	Value []float64 `json:"value"`
	// PyTorch's own float32 gradient (norm and the same entries): how far a
	// float32 implementation lands from float64 on this network.
	NormF32  float64   `json:"norm_f32"`
	ValueF32 []float64 `json:"value_f32"`
}

// Dir returns the folder of the fixtures (testdata/torch at the repository root).
func Dir() string {
	if root := runtime.RepositoryRoot(); root != "" {
		return filepath.Join(root, "testdata", "torch")
	}
	return filepath.Join("..", "testdata", "torch")
}

// Load reads the fixture <name>_<mode> and refills its stripped weights.
func Load(name, mode string) (*Fixture, error) {
	return LoadDir(filepath.Join(Dir(), name+"_"+mode))
}

// LoadDir reads the fixture in dir (model.onnx and fixture.json).
func LoadDir(dir string) (*Fixture, error) {
	data, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
	if err != nil {
		return nil, fmt.Errorf("torchfixture: %w", err)
	}
	fx := &Fixture{}
	if err := json.Unmarshal(data, fx); err != nil {
		return nil, fmt.Errorf("torchfixture: %s: %w", dir, err)
	}
	// The file lacks its large weights, so it is decoded here and checked
	// once they are refilled.
	path := filepath.Join(dir, "model.onnx")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("torchfixture: %w", err)
	}
	mp := &onnx.ModelProto{}
	if err := proto.Unmarshal(raw, mp); err != nil {
		return nil, fmt.Errorf("torchfixture: %s: %w", path, err)
	}
	fx.Model = &ox.Model{Proto: mp, Path: path}
	inits := map[string]*onnx.TensorProto{}
	for _, t := range fx.Model.Graph().GetInitializer() {
		inits[t.GetName()] = t
	}
	for _, w := range fx.Weights {
		t := inits[w.Name]
		if t == nil {
			return nil, fmt.Errorf("torchfixture: %s: weight %q is not an initializer", dir, w.Name)
		}
		n := 1
		for _, d := range t.GetDims() {
			n *= int(d)
		}
		filled := ox.Float32Tensor(w.Name, t.GetDims(), Uniform(w.Seed, n, w.Low, w.High))
		t.RawData, t.FloatData = filled.RawData, nil
	}
	if err := fx.Model.Check(); err != nil {
		return nil, err
	}
	return fx, nil
}

// InputTensor returns the fixture's input batch.
func (fx *Fixture) InputTensor() *runtime.Tensor {
	return runtime.NewFloat32(fx.Input.Shape, Uniform(fx.Input.Seed, runtime.NumElements(fx.Input.Shape), fx.Input.Low, fx.Input.High))
}

// Uniform is the generator shared with gen_fixtures.py (lcg_uniform): a
// SplitMix64 hash of seed + i·φ, 24 bits of it scaled into [low, high) in
// float64 and rounded to float32.
func Uniform(seed uint64, n int, low, high float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		z := seed + uint64(i+1)*0x9E3779B97F4A7C15
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		u := float64(z>>40) / float64(1<<24)
		out[i] = float32(low + (high-low)*u)
	}
	return out
}

// GradNames returns the names of the tensors the reference has gradients of
// (every trainable parameter, then "input"), in reference order.
func (fx *Fixture) GradNames() []string {
	var names []string
	if fx.Reference != nil {
		for _, g := range fx.Reference.Grads {
			names = append(names, g.Name)
		}
	}
	return names
}
