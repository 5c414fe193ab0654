package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/zoo"
)

const nb201Data = "../../../shared/data/nb201"

// testScorerResults writes a results file over all 15,625 NAS-Bench-201
// networks whose "params" column is a TEST SCORER, not a proxy: the
// 12-epoch CIFAR-10 validation accuracy of nb201_epoch12.csv (cheap, and
// informative enough for the warm-up to show).
func testScorerResults(t *testing.T) string {
	t.Helper()
	tr, err := zoo.ReadTruth(nb201Data+"/nb201_epoch12.csv", "index")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range tr.Rows {
		fmt.Fprintf(&b, `{"name":%q,"key":%q,"path":"nb201:index=%s","proxies":{"params":{"score":%v}}}`+"\n", r.Key, r.Key, r.Key, r.Numbers["cifar10_valid_hp12"])
	}
	path := filepath.Join(t.TempDir(), "test_scorer.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type searchJSON struct {
	Dataset  string  `json:"dataset"`
	Budget   int     `json:"budget"`
	Repeats  int     `json:"repeats"`
	BestTest float64 `json:"best_test"`
	Runs     []struct {
		Algo             string    `json:"algo"`
		Variant          string    `json:"variant"`
		Proxy            string    `json:"proxy"`
		Warmup           int       `json:"warmup"`
		Move             int       `json:"move"`
		Trained          []int     `json:"trained"`
		MeanTest         []float64 `json:"mean_test"`
		Q25              []float64 `json:"q25"`
		Q75              []float64 `json:"q75"`
		ProxyEvaluations float64   `json:"proxy_evaluations"`
		Wall             float64   `json:"wall_s"`
	} `json:"runs"`
}

// TestSearchNB201Compare runs --compare for random search on CIFAR-100
// with the test scorer: one run per variant in the JSON, the warm-ups
// scoring exactly their candidates, the curve and band well formed, and
// the figure written.
func TestSearchNB201Compare(t *testing.T) {
	results := testScorerResults(t)
	png := filepath.Join(t.TempDir(), "rs.png")
	code, out, errs := run(t, "search", "nb201", "--algo", "rs", "--compare", "--proxy", "params", "--results", results,
		"--dataset", "cifar100", "--data-dir", nb201Data, "--budget", "40", "--repeats", "8", "--format", "json", "--plot", png)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res searchJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if res.Dataset != "cifar100" || res.Budget != 40 || res.Repeats != 8 || len(res.Runs) != 4 {
		t.Fatalf("want cifar100, 40, 8 and 4 runs, got %s, %d, %d, %d", res.Dataset, res.Budget, res.Repeats, len(res.Runs))
	}
	for i, r := range res.Runs {
		wantWarmup := []int{0, 1000, 3000, 15625}[i]
		if r.Algo != "rs" || r.Warmup != wantWarmup || r.ProxyEvaluations != float64(wantWarmup) || len(r.Trained) != 40 || len(r.MeanTest) != 40 {
			t.Fatalf("run %d: want rs, warm-up %d with as many evaluations, 40 points; got %+v", i, wantWarmup, r)
		}
		if (r.Proxy == "") != (wantWarmup == 0) {
			t.Fatalf("run %d: proxy %q for warm-up %d", i, r.Proxy, wantWarmup)
		}
		for k := range r.MeanTest {
			if r.Q25[k] > r.Q75[k] || r.MeanTest[k] > res.BestTest+2 || r.Trained[k] != k+1 {
				t.Fatalf("run %d point %d: q25 %v, q75 %v, mean %v (best test %v)", i, k, r.Q25[k], r.Q75[k], r.MeanTest[k], res.BestTest)
			}
		}
	}
	if last := res.Runs[3].MeanTest[39]; last <= res.Runs[0].MeanTest[39] {
		t.Fatalf("warm-up 15625 (%.2f) should beat none (%.2f) after 40 models with this test scorer", last, res.Runs[0].MeanTest[39])
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Fatalf("the plot: %v", err)
	}
	code, out, errs = run(t, "search", "nb201", "--algo", "rea", "--data-dir", nb201Data, "--budget", "80", "--repeats", "3")
	if code != 0 || !strings.Contains(out, "VARIANT") || !strings.Contains(out, "rea ") || !strings.Contains(out, "@80") {
		t.Fatalf("table: exit %d: %s %s", code, out, errs)
	}
}

func TestSearchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"search"},
		{"search", "nb201", "--algo", "bogus"},
		{"search", "nb201", "--format", "csv"},
		{"search", "nb201", "--budget", "0"},
		{"search", "nb201", "--budget", "1000000"},
		{"search", "nb201", "--random-move", "2"},
		{"search", "nb201", "--algo", "rs", "--move", "1"},
		{"search", "nb201", "--proxy", "nosuch"},
		{"search", "nb201", "--train-cmd", "true {path}"},
		{"search", "nb201:index=1,2", "--algo", "rs"},
		{"search", "nb201:index=1,2", "--algo", "rea", "--train-cmd", "echo 1 {path}"},
	} {
		if code, _, errs := run(t, args...); code != 2 || errs == "" {
			t.Errorf("%v: want exit 2 with a message, got %d (%s)", args, code, errs)
		}
	}
	if code, _, errs := run(t, "search", "nb201", "--data-dir", t.TempDir()); code != 1 || !strings.Contains(errs, "nb201_valid.csv") {
		t.Errorf("missing table: want exit 1 naming nb201_valid.csv, got %d (%s)", code, errs)
	}
	if code, _, errs := run(t, "search", "nb201", "--warmup", "10", "--results", filepath.Join(t.TempDir(), "none.jsonl"), "--data-dir", nb201Data, "--repeats", "1"); code != 1 || !strings.Contains(errs, "none.jsonl") {
		t.Errorf("missing results: want exit 1 naming the file, got %d (%s)", code, errs)
	}
}

// TestSearchCollection searches three NAS-Bench-201 networks built in
// memory with a training command (its accuracy is the index), the proxy
// params computed by the engine: random search trains them in params
// order (1, 2, then 0), and a second run replays the journal.
func TestSearchCollection(t *testing.T) {
	testort.Init(t)
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal.jsonl")
	count := filepath.Join(dir, "count")
	cmd := "echo x >> " + count + "; echo {path} | sed 's/.*index=\\([0-9]*\\).*/\\1/'"
	for k := 0; k < 2; k++ {
		code, out, errs := run(t, "search", "nb201:index=0,1,2", "--train-cmd", cmd, "--journal", journal, "--algo", "rs", "--proxy", "params", "--budget", "2", "--format", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var res struct {
			Best      string  `json:"best"`
			BestValid float64 `json:"best_valid"`
			Steps     []struct {
				Model string  `json:"model"`
				Valid float64 `json:"valid"`
			} `json:"steps"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if len(res.Steps) != 2 || res.Steps[0].Valid != 1 || res.Steps[1].Valid != 2 || res.BestValid != 2 || !strings.Contains(res.Best, "index=2") {
			t.Fatalf("want index 1 then 2 trained (params order), 2 best; got %s", out)
		}
	}
	raw, _ := os.ReadFile(count)
	if n := strings.Count(string(raw), "x"); n != 2 {
		t.Fatalf("want 2 trainings (the second search replays the journal), got %d", n)
	}
}
