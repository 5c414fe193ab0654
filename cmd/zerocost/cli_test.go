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
