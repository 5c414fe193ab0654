package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/internal/gradcases"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeModel(t *testing.T, m *onnximport.Model) string {
	t.Helper()
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersionReportsPinnedRuntime(t *testing.T) {
	testort.Init(t)
	code, out, errs := run(t, "version")
	if code != 0 || !strings.Contains(out, "onnxruntime 1.24.1") || !strings.Contains(out, "execution providers: cpu") {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for i, args := range [][]string{
		{},
		{"no-such-command"},
		{"run-model"},
		{"run-model", "a.onnx", "--input-shape", "3xAx4"},
		{"run-model", "a.onnx", "--ep", "tpu"},
		{"gradcheck", "a.onnx", "--head", "mse"},
		{"gradcheck", "a.onnx", "--bn", "frozen"},
		{"gradcheck", "a.onnx", "--format", "yaml"},
		{"gradcheck", "a.onnx", "--no-such-flag"},
	} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("case %d %v: want exit code 2, got %d", i, args, code)
		}
	}
}

func TestRunModelPrintsShapeAndChecksum(t *testing.T) {
	testort.Init(t)
	path := writeModel(t, zoo.TinyCNN(1, 10))
	code, out, errs := run(t, "run-model", path, "--input-shape", "3x16x16", "--batch-size", "4")
	if code != 0 || !strings.Contains(out, "output logits: shape [4 10]") {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = run(t, "run-model", filepath.Join(t.TempDir(), "missing.onnx"))
	if code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing model: code %d, stderr %q", code, errs)
	}
}

func TestGradcheckJSON(t *testing.T) {
	testort.Init(t)
	path := writeModel(t, zoo.TinyCNN(2, 10))
	code, out, errs := run(t, "gradcheck", path, "--input-shape", "3x8x8", "--format", "json")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
	var rep struct {
		Model          string   `json:"model"`
		OK             bool     `json:"ok"`
		MaxRelError    *float64 `json:"max_rel_error"`
		UnsupportedOps []string `json:"unsupported_ops"`
		Params         []struct {
			Name     string   `json:"name"`
			RelError *float64 `json:"rel_error"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if rep.Model != path || !rep.OK || rep.MaxRelError == nil || rep.UnsupportedOps == nil || len(rep.Params) != 9 || rep.Params[0].Name != "conv1.weight" || rep.Params[0].RelError == nil {
		t.Fatalf("unexpected report: %+v", rep)
	}
}

func TestGradcheckFailsOnUnsupportedOps(t *testing.T) {
	testort.Init(t)
	m := zoo.TinyCNN(1, 10)
	m.Graph().Node[2].OpType = "ThresholdedRelu"
	path := writeModel(t, m)
	code, out, errs := run(t, "gradcheck", path, "--input-shape", "3x8x8")
	if code != 1 || !strings.Contains(out, "unsupported ops: [ThresholdedRelu]") || !strings.Contains(errs, "ThresholdedRelu") {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestDemo runs the demo on a small sample with a ground truth of its own
// (the 12-epoch baseline column equal to the test accuracy, so its
// correlations must be exactly 1), and without any ground truth.
func TestDemo(t *testing.T) {
	testort.Init(t)
	t.Chdir(t.TempDir())
	var rows strings.Builder
	rows.WriteString("index,cifar10_test,cifar10_valid_epoch12\n")
	for i := 0; i < zoo.NB201Size; i++ {
		acc := fmt.Sprintf("%.2f", 10+float64((i*7919)%8400)/100)
		fmt.Fprintf(&rows, "%d,%s,%s\n", i, acc, acc)
	}
	if err := os.WriteFile("truth.csv", []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		truth    string
		want     []string // in stdout
		wantPlot bool
	}{
		{truth: "truth.csv", wantPlot: true, want: []string{
			"ranking 20 NAS-Bench-201 networks", "scored 20 networks", "The 10 networks synflow ranks highest", "TRUE_RANK",
			"SPEARMAN", "synflow ", "params ", "flops ", "wrote demo.png"}},
		{truth: "missing.csv", want: []string{"scored 20 networks", "The 10 networks synflow ranks highest", "SYNFLOW_LOG10"}},
	} {
		os.Remove("demo.png")
		code, out, errs := run(t, "demo", "--sample", "20", "--truth", c.truth, "--plot", "demo.png")
		if code != 0 {
			t.Fatalf("case %d: exit %d: %s", i, code, errs)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("case %d: stdout lacks %q:\n%s", i, w, out)
			}
		}
		baselineRows := 0
		for _, line := range strings.Split(out, "\n") {
			// PROXY N SPEARMAN KENDALL ...: the baseline equals the truth.
			if f := strings.Fields(line); len(f) > 3 && f[0] == "baseline:cifar10_valid_epoch12" {
				baselineRows++
				if f[1] != "20" || f[2] != "1.000" || f[3] != "1.000" {
					t.Errorf("case %d: baseline equal to the truth: want n 20, Spearman and Kendall 1.000, got %q", i, line)
				}
			}
		}
		if want := btoi(c.wantPlot); baselineRows != want {
			t.Errorf("case %d: want %d baseline rows in the table, got %d", i, want, baselineRows)
		}
		_, err := os.Stat("demo.png")
		if c.wantPlot != (err == nil) {
			t.Errorf("case %d: want a plot %v, stat: %v", i, c.wantPlot, err)
		}
		if !c.wantPlot && (strings.Contains(out, "SPEARMAN") || strings.Contains(out, "TRUE_RANK") || !strings.Contains(errs, "no ground truth")) {
			t.Errorf("case %d: without ground truth want no correlations and a note on stderr:\n%s\n%s", i, out, errs)
		}
	}
	if code, _, _ := run(t, "demo", "--sample", "0"); code != 2 {
		t.Errorf("--sample 0: want exit 2, got %d", code)
	}
}

func TestScoreJSONAndCSV(t *testing.T) {
	testort.Init(t)
	path := writeModel(t, zoo.TinyCNN(3, 10))
	code, out, errs := run(t, "score", path, "--input-shape", "3x16x16", "--batch-size", "4", "--proxies", "snip,synflow,params", "--per-layer", "--format", "json")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
	var res struct {
		Model      string  `json:"model"`
		SHA256     string  `json:"sha256"`
		InputShape []int64 `json:"input_shape"`
		Proxies    map[string]struct {
			Score  float64  `json:"score"`
			Log10  *float64 `json:"log10"`
			TimeMS *float64 `json:"time_ms"`
			Layers []struct {
				Node, Op, Param string
				Shape           []int64
				Score           *float64
			} `json:"layers"`
		} `json:"proxies"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	snip, syn := res.Proxies["snip"], res.Proxies["synflow"]
	if res.Model != path || len(res.SHA256) != 64 || len(res.InputShape) != 4 || len(snip.Layers) != 3 || snip.Layers[0].Param != "conv1.weight" || snip.Layers[0].Op != "Conv" || syn.Log10 == nil || snip.TimeMS == nil {
		t.Fatalf("unexpected result: %s", out)
	}
	code, out, _ = run(t, "score", path, "--input-shape", "3x16x16", "--batch-size", "4", "--proxies", "params,l2_norm", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "model,proxy,score,log10,time_ms,error\n") || !strings.Contains(out, ",params,1562,") {
		t.Fatalf("csv: code %d\n%s", code, out)
	}
	if code, _, _ := run(t, "score", path, "--proxies", "snipp"); code != 2 {
		t.Fatalf("unknown proxy: want exit 2, got %d", code)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestScoreAndRankModelsWithSeveralInputs scores testdata/inputs models
// from the command line: --input gives the language model its sequence
// length, --output picks the two-input model's box head (the sum head,
// noted); a manifest gives rank the same through its inputs and output
// columns; a bad specification is a usage error.
func TestScoreAndRankModelsWithSeveralInputs(t *testing.T) {
	testort.Init(t)
	dir := filepath.Join("..", "..", "testdata", "inputs")
	code, out, errs := run(t, "score", filepath.Join(dir, "lm.onnx"), "--input", "ids=6:int64:tokens", "--batch-size", "4", "--proxies", "snip,jacob_cov,synflow", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		InputShape []int64 `json:"input_shape"`
		Notes      []string
		Proxies    map[string]any
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(res.Notes, "\n")
	if len(res.Proxies) != 3 || fmt.Sprint(res.InputShape) != "[4 6]" || !strings.Contains(notes, "cross-entropy per token") || !strings.Contains(notes, "random token ids in [0, 30)") {
		t.Errorf("want 3 proxies at [4 6] with per-token notes, got %v at %v, notes %q", res.Proxies, res.InputShape, res.Notes)
	}
	code, out, errs = run(t, "score", filepath.Join(dir, "twoinput.onnx"), "--output", "boxes", "--batch-size", "4", "--proxies", "grad_norm")
	if code != 0 || !strings.Contains(out, `the sum head (Σ of output "boxes"`) {
		t.Errorf("--output boxes: exit %d, want the sum head noted, got:\n%s%s", code, out, errs)
	}
	manifest := filepath.Join(t.TempDir(), "models.csv")
	abs, _ := filepath.Abs(dir)
	csv := "path,inputs,output\n" + filepath.Join(abs, "lm.onnx") + ",ids=5:tokens,\n" + filepath.Join(abs, "twoinput.onnx") + ",vector=:zeros,boxes\n"
	if err := os.WriteFile(manifest, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "rank", manifest, "--proxies", "snip,params", "--batch-size", "4", "--format", "json", "--workers", "1")
	if code != 0 || strings.Count(out, `"snip"`) < 2 || !strings.Contains(out, "vector 4×5: zeros") || !strings.Contains(out, `\"boxes\"`) {
		t.Errorf("rank over a manifest with inputs and output: exit %d, got:\n%s%s", code, out, errs)
	}
	if code, _, errs = run(t, "score", filepath.Join(dir, "lm.onnx"), "--input", "ids=6:words"); code != 2 || !strings.Contains(errs, "unknown source") {
		t.Errorf("a bad --input: want exit 2 naming the source, got %d: %s", code, errs)
	}
}

// gradcheckReport is the part of `gradcheck --format json` the tests read.
type gradcheckReport struct {
	OK        bool              `json:"ok"`
	Loss      *float64          `json:"loss"`
	NotFinite map[string]string `json:"not_finite"`
	Verdicts  map[string]int    `json:"verdicts"`
	Params    []gradcheckTensor `json:"params"`
	Inputs    []gradcheckTensor `json:"inputs"`
}

type gradcheckTensor struct {
	Name      string            `json:"name"`
	Verdict   string            `json:"verdict"`
	Failed    bool              `json:"failed"`
	Reason    string            `json:"reason"`
	Analytic  *float64          `json:"analytic"`
	Numeric   *float64          `json:"numeric"`
	Diff      *float64          `json:"diff"`
	Noise     *float64          `json:"noise"`
	NotFinite map[string]string `json:"not_finite"`
}

func TestGradcheckNB201ForesightTrainBN(t *testing.T) {
	testort.Init(t)
	// The conv on edge 2→3 reads zeros (node 1 is none, node 2 pools it):
	// its bias feeds the train-mode BN of a constant channel, whose float32
	// gradient is noise amplified by 1/sqrt(eps).
	m, err := zoo.NB201("|none~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|", zoo.NB201Options{Variant: "foresight", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := writeModel(t, m)
	code, out, errs := run(t, "gradcheck", path, "--input-shape", "3x8x8", "--bn", "train", "--format", "json")
	if code != 0 {
		t.Fatalf("code %d, stderr %q\n%s", code, errs, out)
	}
	var rep gradcheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	zero := 0
	for _, c := range append(rep.Params, rep.Inputs...) {
		if c.Verdict != "ok" && c.Verdict != "ok (zero by structure)" {
			t.Errorf("%s: %s (%s)", c.Name, c.Verdict, c.Reason)
		}
		if strings.HasSuffix(c.Name, ".op.1.bias") && (c.Verdict != "ok (zero by structure)" || !strings.Contains(c.Reason, "BatchNormalization")) {
			t.Errorf("%s: %s (%s), want zero by structure, cancelled by BatchNormalization", c.Name, c.Verdict, c.Reason)
		}
		if c.Verdict == "ok (zero by structure)" {
			zero++
		}
	}
	// 30 conv biases, 15 dead conv weights (edge 2→3 of every cell), the
	// running statistics of the 6 affine BNs (stem, reductions, last).
	if !rep.OK || zero != 57 {
		t.Errorf("ok %v, %d zero by structure, want 57: %v", rep.OK, zero, rep.Verdicts)
	}
	// The table, on a smaller model: TinyCNN's conv1 bias feeds a BN.
	code, out, errs = run(t, "gradcheck", writeModel(t, zoo.TinyCNN(1, 10)), "--input-shape", "3x8x8", "--bn", "train")
	if code != 0 || !strings.Contains(out, "ok (zero by structure)") || !strings.Contains(out, "DIFF") || !strings.Contains(out, "NOISE") || strings.Contains(out, "FAILED") {
		t.Fatalf("table: code %d, stderr %q\n%s", code, errs, out)
	}
}

// TestGradcheckNonFinite: NaN and Inf are reported by name in valid JSON
// and fail the command only where the analytic gradient is not finite and
// the finite difference is (|w| at 0 through sqrt(w·w)).
func TestGradcheckNonFinite(t *testing.T) {
	testort.Init(t)
	cases := []struct {
		name      string
		model     *onnximport.Model
		code      int
		notFinite string // field of w's check named in not_finite
		lossNaN   bool
	}{
		{"sqrt near zero", gradcases.SqrtNearZero(), 0, "numeric", false},
		{"sqrt of a square", gradcases.SqrtOfSquare(), 1, "grad_norm", false},
		{"NaN weight", gradcases.NaNWeight(), 0, "analytic", true},
	}
	for _, c := range cases {
		path := writeModel(t, c.model)
		// float32 differences: their steps are wide enough to leave sqrt's domain.
		code, out, errs := run(t, "gradcheck", path, "--head", "sum", "--format", "json", "--float32-differences")
		if code != c.code {
			t.Errorf("%s: code %d, want %d; stderr %q", c.name, code, c.code, errs)
		}
		var rep gradcheckReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%s: bad JSON: %v\n%s", c.name, err, out)
		}
		if len(rep.Params) != 1 || rep.Params[0].Name != "w" {
			t.Fatalf("%s: params %+v", c.name, rep.Params)
		}
		w := rep.Params[0]
		if w.Verdict != "not finite" || w.Failed != (c.code == 1) || w.NotFinite[c.notFinite] == "" {
			t.Errorf("%s: w: %+v, want not finite naming %s", c.name, w, c.notFinite)
		}
		if c.lossNaN && (rep.Loss != nil || rep.NotFinite["loss"] != "NaN" || !strings.Contains(errs, "loss is NaN")) {
			t.Errorf("%s: loss %v, not_finite %v, stderr %q; want a null loss named NaN and a warning", c.name, rep.Loss, rep.NotFinite, errs)
		}
		code, out, _ = run(t, "gradcheck", path, "--head", "sum", "--float32-differences")
		if code != c.code || !strings.Contains(out, "not finite") {
			t.Errorf("%s: table: code %d\n%s", c.name, code, out)
		}
	}
}
