package proxies_test

import (
	"encoding/json"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/zoo"
)

func TestTinyCNNAllProxies(t *testing.T) {
	testort.Init(t)
	batch := &data.Batch{Input: data.RandomNormal([]int64{4, 3, 16, 16}, 1)}
	res, err := proxies.Score(zoo.TinyCNN(1, 10), proxies.Options{Batch: batch, PerLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", " ")
	t.Log(string(b))
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
}
