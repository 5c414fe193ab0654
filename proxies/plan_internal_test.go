package proxies

import (
	"slices"
	"testing"
)

// TestPlanMergesVariants checks that the planner gives proxies of one
// variant one job with the OR of their signals, keeps other variants apart
// and runs the static proxies last.
func TestPlanMergesVariants(t *testing.T) {
	var ps []*Proxy
	for _, n := range []string{"params", "grad_norm", "fisher", "jacob_cov", "nwot", "epe_nas", "zico", "grasp", "meco", "meco_opt", "synflow", "synflow_bn"} {
		p, ok := Lookup(n)
		if !ok {
			t.Fatalf("%s is not registered", n)
		}
		ps = append(ps, p)
	}
	jobs := plan(ps)
	var got [][]string
	for _, j := range jobs {
		got = append(got, proxyNames(j.proxies))
	}
	want := [][]string{
		{"grad_norm", "fisher", "grasp"},
		{"jacob_cov", "nwot", "epe_nas"},
		{"zico"},
		{"meco", "meco_opt"},
		{"synflow"},
		{"synflow_bn"},
		{"params"},
	}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Fatalf("want jobs %v, got %v", want, got)
	}
	if s := jobs[0].signals; !s.WeightGrads || !s.Fisher || !s.HVP || s.InputJacobian {
		t.Errorf("loss-head job: want weight gradients, fisher and H·g only, got %+v", s)
	}
	if s := jobs[1].signals; !s.InputJacobian || !s.ReluKernel || s.WeightGrads {
		t.Errorf("sum-head job: want the input Jacobian and the ReLU kernel only, got %+v", s)
	}
}

// TestSampleIndices checks meco_opt's channel draw: k distinct indices in
// range, the same for the same seed, all of them in order when n ≤ k.
func TestSampleIndices(t *testing.T) {
	for seed := range uint64(20) {
		a, b := sampleIndices(seed, 64, 8), sampleIndices(seed, 64, 8)
		if !slices.Equal(a, b) || len(a) != 8 {
			t.Fatalf("seed %d: want one draw of 8, got %v and %v", seed, a, b)
		}
		seen := map[int]bool{}
		for _, i := range a {
			if i < 0 || i >= 64 || seen[i] {
				t.Fatalf("seed %d: %v is not 8 distinct indices of 0..63", seed, a)
			}
			seen[i] = true
		}
	}
	if got := sampleIndices(1, 5, 8); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("n ≤ k: want every index, got %v", got)
	}
	if slices.Equal(sampleIndices(1, 64, 8), sampleIndices(2, 64, 8)) {
		t.Error("seeds 1 and 2 drew the same channels")
	}
}
