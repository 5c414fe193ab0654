package search

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zerocost/zerocost/zoo"
)

// Trained is what an oracle returns for one training.
type Trained struct {
	Valid float64 // validation accuracy: what a search selects on
	// Test accuracy: what is reported for the architecture best by
	// validation; NaN when unknown (a user's own training).
	Test    float64
	Seconds float64 // the training's cost in seconds, when known (0 for a table)
}

// Oracle trains a candidate. rng draws the noise of a training, for oracles
// that simulate one; it belongs to the calling search.
type Oracle interface {
	Train(ctx context.Context, arch string, rng *rand.Rand) (Trained, error)
}

// NB201Datasets are the datasets of NB201Oracle.
var NB201Datasets = []string{"cifar10", "cifar100", "imagenet16"}

// NB201Oracle is the NAS-Bench-201 benchmark table: a query returns one
// training seed's validation accuracy drawn at random (the noise of a real
// training) or, with Mean, the mean over seeds, and the architecture's test
// accuracy (mean over seeds). CIFAR-10's validation is the cifar10-valid
// split and its test column nb201_accuracy.csv's cifar10_test; CIFAR-100's
// and ImageNet16-120's are the x-valid and seed-matched x-test halves
// (nb201_valid.csv's *_test_nats).
type NB201Oracle struct {
	Dataset string
	Mean    bool
	valid   [][]float64 // per index: the seeds' validation accuracies
	mean    []float64   // per index: their mean (the table's column)
	test    []float64
	bestIdx int
}

// LoadNB201Oracle reads the benchmark table of one dataset from the folder
// holding nb201_valid.csv and nb201_accuracy.csv (../shared/data/nb201).
func LoadNB201Oracle(dir, dataset string, mean bool) (*NB201Oracle, error) {
	if dataset == "cifar10-valid" {
		dataset = "cifar10"
	}
	var testFile, testCol string
	switch dataset {
	case "cifar10":
		testFile, testCol = "nb201_accuracy.csv", "cifar10_test"
	case "cifar100", "imagenet16":
		testFile, testCol = "nb201_valid.csv", dataset+"_test_nats"
	default:
		return nil, fmt.Errorf("search: unknown NAS-Bench-201 dataset %q (want one of %s)", dataset, strings.Join(NB201Datasets, ", "))
	}
	vt, err := zoo.ReadTruth(dir+"/nb201_valid.csv", "index")
	if err != nil {
		return nil, fmt.Errorf("search: the NAS-Bench-201 validation table: %w (pass the folder of nb201_valid.csv, e.g. ../shared/data/nb201)", err)
	}
	tt := vt
	if testFile != "nb201_valid.csv" {
		if tt, err = zoo.ReadTruth(dir+"/"+testFile, "index"); err != nil {
			return nil, fmt.Errorf("search: the NAS-Bench-201 test table: %w", err)
		}
	}
	archs, err := zoo.NB201Archs()
	if err != nil {
		return nil, err
	}
	if len(vt.Rows) != len(archs) || len(tt.Rows) != len(archs) {
		return nil, fmt.Errorf("search: %s has %d rows and %s %d, want %d each", dir+"/nb201_valid.csv", len(vt.Rows), testFile, len(tt.Rows), len(archs))
	}
	o := &NB201Oracle{Dataset: dataset, Mean: mean, valid: make([][]float64, len(archs)), mean: make([]float64, len(archs)), test: make([]float64, len(archs))}
	for i := range archs {
		vr, tr := vt.Rows[i], tt.Rows[i]
		if vr.Key != strconv.Itoa(i) || vr.Fields["arch"] != archs[i] || tr.Fields["arch"] != archs[i] {
			return nil, fmt.Errorf("search: %s row %d is index %s (%s), want index %d (%s) as zoo's list", dir, i+2, vr.Key, vr.Fields["arch"], i, archs[i])
		}
		m, okM := vr.Numbers[dataset+"_valid"]
		t, okT := tr.Numbers[testCol]
		if !okM || !okT {
			return nil, fmt.Errorf("search: %s row %d: no number in %s_valid or %s", dir, i+2, dataset, testCol)
		}
		o.mean[i], o.test[i] = m, t
		for _, f := range strings.Split(vr.Fields[dataset+"_valid_seeds"], ";") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, fmt.Errorf("search: %s row %d: bad seed value %q in %s_valid_seeds", dir, i+2, f, dataset)
			}
			o.valid[i] = append(o.valid[i], v)
		}
		if o.mean[i] > o.mean[o.bestIdx] {
			o.bestIdx = i
		}
	}
	return o, nil
}

// Train implements Oracle.
func (o *NB201Oracle) Train(_ context.Context, arch string, rng *rand.Rand) (Trained, error) {
	i, err := NB201Index(arch)
	if err != nil {
		return Trained{}, err
	}
	v := o.mean[i]
	if !o.Mean {
		v = o.valid[i][rng.IntN(len(o.valid[i]))]
	}
	return Trained{Valid: v, Test: o.test[i]}, nil
}

// Best returns the architecture with the best mean validation accuracy and
// its validation and test accuracies: what a perfect search reports.
func (o *NB201Oracle) Best() (arch string, valid, test float64) {
	a, _ := zoo.NB201Arch(o.bestIdx)
	return a, o.mean[o.bestIdx], o.test[o.bestIdx]
}

// MaxTest is the best test accuracy in the table (over all architectures,
// which no protocol that selects on validation is promised to reach).
func (o *NB201Oracle) MaxTest() float64 {
	best := math.Inf(-1)
	for _, t := range o.test {
		best = max(best, t)
	}
	return best
}

// CommandOracle trains a candidate by running a shell command, in which
// {path} is replaced by the candidate (shell-quoted); the last number the
// command prints on stdout is the validation accuracy. Every result is
// appended to Journal (JSON lines) when set, and a search that starts again
// with the same journal takes its results from it instead of training
// again, in the same order, so a killed search resumes.
type CommandOracle struct {
	Command string
	Journal string
	Stderr  *os.File // the command's stderr (nil: discarded)
	// Timeout limits one training (0: none).
	Timeout time.Duration

	mu     sync.Mutex
	loaded bool
	past   map[string][]Trained // journaled results not yet replayed
}

type journalLine struct {
	Arch    string  `json:"arch"`
	Valid   float64 `json:"valid"`
	Seconds float64 `json:"seconds"`
}

var lastNumber = regexp.MustCompile(`[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?`)

// Train implements Oracle.
func (o *CommandOracle) Train(ctx context.Context, arch string, _ *rand.Rand) (Trained, error) {
	o.mu.Lock()
	if err := o.load(); err != nil {
		o.mu.Unlock()
		return Trained{}, err
	}
	if p := o.past[arch]; len(p) > 0 {
		o.past[arch] = p[1:]
		o.mu.Unlock()
		return p[0], nil
	}
	o.mu.Unlock()
	if !strings.Contains(o.Command, "{path}") {
		return Trained{}, fmt.Errorf("search: the training command %q has no {path} to put the candidate in", o.Command)
	}
	cmdline := strings.ReplaceAll(o.Command, "{path}", shellQuote(arch))
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	var out bytes.Buffer
	cmd.Stdout = &out
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	}
	start := time.Now()
	err := cmd.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		return Trained{}, fmt.Errorf("search: training %s: `%s` failed: %w", arch, cmdline, err)
	}
	nums := lastNumber.FindAllString(out.String(), -1)
	if len(nums) == 0 {
		return Trained{}, fmt.Errorf("search: training %s: `%s` printed no number (it must print the validation accuracy last)", arch, cmdline)
	}
	v, err := strconv.ParseFloat(nums[len(nums)-1], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Trained{}, fmt.Errorf("search: training %s: `%s` printed %q last, not an accuracy", arch, cmdline, nums[len(nums)-1])
	}
	t := Trained{Valid: v, Test: math.NaN(), Seconds: secs}
	if o.Journal != "" {
		line, _ := json.Marshal(journalLine{Arch: arch, Valid: v, Seconds: secs})
		o.mu.Lock()
		defer o.mu.Unlock()
		f, err := os.OpenFile(o.Journal, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return t, fmt.Errorf("search: the journal: %w", err)
		}
		defer f.Close()
		if _, err := f.Write(append(line, '\n')); err != nil {
			return t, fmt.Errorf("search: writing the journal %s: %w", o.Journal, err)
		}
	}
	return t, nil
}

// load reads the journal once (the caller holds mu).
func (o *CommandOracle) load() error {
	if o.loaded {
		return nil
	}
	o.loaded, o.past = true, map[string][]Trained{}
	if o.Journal == "" {
		return nil
	}
	f, err := os.Open(o.Journal)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("search: the journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l journalLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Arch == "" {
			continue // a line cut short by a kill
		}
		o.past[l.Arch] = append(o.past[l.Arch], Trained{Valid: l.Valid, Test: math.NaN(), Seconds: l.Seconds})
	}
	return sc.Err()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
