package zoo

import (
	"math"
	"math/rand/v2"
)

// initializer draws weights like PyTorch's default initialisation of Conv
// and Linear layers: kaiming-uniform with a = sqrt(5) for weights, which is
// uniform in ±1/sqrt(fan_in), and uniform ±1/sqrt(fan_in) for biases.
type initializer struct {
	rng *rand.Rand
}

func newInitializer(seed uint64) *initializer {
	return &initializer{rng: rand.New(rand.NewPCG(seed, 0x7a65726f636f7374))}
}

// uniform returns n values uniform in [-bound, bound).
func (in *initializer) uniform(n int, bound float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32((2*in.rng.Float64() - 1) * bound)
	}
	return out
}

// kaiming returns a weight of n values for a layer with the given fan-in.
// gain = sqrt(2 / (1 + a²)) with a = sqrt(5), bound = gain * sqrt(3 / fan_in) = 1/sqrt(fan_in).
func (in *initializer) kaiming(n, fanIn int) []float32 {
	return in.uniform(n, 1/math.Sqrt(float64(fanIn)))
}

func constant(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func sqrtf(x float64) float64 { return math.Sqrt(x) }
