package proxies_test

import (
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/zoo"
)

// liveTensorsOfNB201 counts, from the architecture string alone, the
// parameter tensors of a NAS-Bench-201 network that the output depends on:
// the 21 outside the cells (stem, reductions, last BN, classifier) and per
// cell, for each convolution edge j→i whose node i reaches node 3 over
// edges that are not `none`, its conv weight and BN scale when node j
// carries data, and its BN bias in any case (train-mode BN of an all-zero
// input outputs the bias). ok is false when node 3 carries no data (the
// network's output is then constant, a case this count does not model).
func liveTensorsOfNB201(arch string) (live int, ok bool) {
	op := map[[2]int]string{}
	for i, node := range strings.Split(strings.Trim(arch, "|"), "|+|") {
		for _, e := range strings.Split(node, "|") {
			name, from, _ := strings.Cut(e, "~")
			op[[2]int{int(from[0] - '0'), i + 1}] = name
		}
	}
	data := [4]bool{true}
	for i := 1; i < 4; i++ {
		for j := 0; j < i; j++ {
			data[i] = data[i] || data[j] && op[[2]int{j, i}] != "none"
		}
	}
	reaches := [4]bool{3: true}
	for i := 2; i >= 0; i-- {
		for k := i + 1; k < 4; k++ {
			reaches[i] = reaches[i] || reaches[k] && op[[2]int{i, k}] != "none"
		}
	}
	perCell := 0
	for e, name := range op {
		if !strings.HasPrefix(name, "nor_conv") || !reaches[e[1]] {
			continue
		}
		perCell++ // the BN bias
		if data[e[0]] {
			perCell += 2
		}
	}
	return 21 + 15*perCell, data[3]
}

// layers_live agrees with the count from the architecture string on
// NAS-Bench-201 networks with dead edges of every kind (no data in, no way
// out), and layers counts every tensor.
func TestLayersLiveOnNB201(t *testing.T) {
	testort.Init(t)
	archs, err := zoo.NB201Archs()
	if err != nil {
		t.Fatal(err)
	}
	checked, fewer := 0, 0
	for i := 0; i < len(archs) && checked < 40; i += 397 {
		want, ok := liveTensorsOfNB201(archs[i])
		if !ok {
			continue
		}
		m, err := zoo.NB201(archs[i], zoo.NB201Options{Index: i})
		if err != nil {
			t.Fatal(err)
		}
		res, err := proxies.Score(m, proxies.Options{Proxies: []string{"layers", "layers_live"}, Batch: &data.Batch{Input: data.Ones([]int64{1, 3, 32, 32})}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Errors) > 0 {
			t.Fatalf("%d %s: %v", i, archs[i], res.Errors)
		}
		all := 21 + 45*strings.Count(archs[i], "nor_conv")
		if got := res.Proxies["layers"].Score; got != float64(all) {
			t.Errorf("%d %s: layers %v, want %d", i, archs[i], got, all)
		}
		if got := res.Proxies["layers_live"].Score; got != float64(want) {
			t.Errorf("%d %s: layers_live %v, want %d", i, archs[i], got, want)
		}
		if want < all {
			fewer++
		}
		checked++
	}
	if checked < 30 || fewer < 5 {
		t.Errorf("checked %d networks, %d of them with dead tensors: want at least 30 and 5", checked, fewer)
	}
}
