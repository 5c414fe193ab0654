package proxies

import "testing"

// TestSignCotangent checks the trainability cotangents: ±1 only, the same
// values for one seed and stage, other values for another seed or stage,
// and about as many +1 as −1.
func TestSignCotangent(t *testing.T) {
	a, b := signCotangent(3, 2, 10000), signCotangent(3, 2, 10000)
	other, stage := signCotangent(4, 2, 10000), signCotangent(3, 3, 10000)
	same, sameSeed, sameStage, plus := true, 0, 0, 0
	for j := range a {
		if a[j] != 1 && a[j] != -1 {
			t.Fatalf("element %d is %v, want ±1", j, a[j])
		}
		same = same && a[j] == b[j]
		if a[j] == other[j] {
			sameSeed++
		}
		if a[j] == stage[j] {
			sameStage++
		}
		if a[j] == 1 {
			plus++
		}
	}
	if !same {
		t.Error("seed 3, stage 2 twice: the values differ")
	}
	// Independent signs agree on half the elements (±150 is 3σ at n = 10000).
	for name, n := range map[string]int{"seeds 3 and 4": sameSeed, "stages 2 and 3": sameStage, "+1 count": plus} {
		if n < 4850 || n > 5150 {
			t.Errorf("%s: %d of 10000, want about 5000", name, n)
		}
	}
}

// TestDistinctStages checks that a repeated stage is kept once, with the
// index of its first occurrence.
func TestDistinctStages(t *testing.T) {
	d, first := distinctStages([]string{"a", "b", "b", "c"})
	if len(d) != 3 || d[0] != "a" || d[1] != "b" || d[2] != "c" || first["b"] != 1 || first["c"] != 3 {
		t.Errorf("want [a b c] with b at 1 and c at 3, got %v %v", d, first)
	}
}
