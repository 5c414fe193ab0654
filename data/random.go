package data

import (
	"math/rand/v2"

	"github.com/zerocost/zerocost/runtime"
)

// RandomNormal returns a float32 tensor of the given shape filled with
// standard normal values drawn from seed.
func RandomNormal(shape []int64, seed uint64) *runtime.Tensor {
	rng := rand.New(rand.NewPCG(seed, 0x6461746131))
	data := make([]float32, runtime.NumElements(shape))
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return runtime.NewFloat32(shape, data)
}
