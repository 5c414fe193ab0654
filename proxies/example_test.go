package proxies_test

import (
	"fmt"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

// Score a model with the data-free proxies and a few data proxies on a
// random batch.
func ExampleScore() {
	if err := runtime.Init(""); err != nil {
		fmt.Println(err)
		return
	}
	model := zoo.TinyCNN(1, 10) // or onnximport.Load("model.onnx")
	batch := &data.Batch{Input: data.RandomNormal([]int64{8, 3, 32, 32}, 1)}
	res, err := proxies.Score(model, proxies.Options{
		Proxies: []string{"params", "synflow", "snip"},
		Batch:   batch,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("params %.0f\n", res.Proxies["params"].Score)
	fmt.Printf("synflow log10 %.1f\n", *res.Proxies["synflow"].Log10)
	fmt.Println("snip positive:", res.Proxies["snip"].Score > 0)
	// Output:
	// params 1562
	// synflow log10 2.8
	// snip positive: true
}
