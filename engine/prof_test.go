package engine_test

import (
	"os"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	"github.com/zerocost/zerocost/runtime"
)

func TestProfileNB201(t *testing.T) {
	if os.Getenv("ZC_PROFILE") == "" {
		t.Skip()
	}
	testort.Init(t)
	fx, _ := torchfixture.Load("nb201_a", "train")
	wrt := fx.GradNames()
	g, err := engine.NewGradient(fx.Model, engine.Options{Request: autodiff.Request{WRT: wrt}, InputShape: []int64{64, 3, 32, 32}, Session: runtime.SessionOptions{Threads: 2, Profile: "/tmp/zcprof"}})
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*runtime.Tensor{"input": data.RandomNormal([]int64{64, 3, 32, 32}, 1), g.Labels: runtime.NewInt64([]int64{64}, make([]int64, 64))}
	for i := 0; i < 3; i++ {
		g.Run(feeds)
	}
	g.Destroy()
}
