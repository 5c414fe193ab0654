package ranking

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/zerocost/zerocost/proxies"
)

// An ensemble combines the ranks of several proxies within a collection
// into one column. Its values depend on the whole collection, so they are
// computed from the per-model values whenever a collection is reported
// (rank, eval), never stored in a results file: a resumed or merged run
// gets them anew over all its models.

// Methods of combining ranks.
const (
	// Vote is the paper's majority vote (Abdelfattah et al. 2021, notebook
	// nasbench201_correlations.ipynb): of two models, the one that the
	// majority of the components ranks higher is the better. A model's
	// value is its Copeland score: the share of the other models it beats
	// by that vote, a tie (as many components for as against) counting
	// half.
	Vote = "vote"
	// MeanRank is the mean over the components of rank/N.
	MeanRank = "meanrank"
	// LogRank is AZ-NAS's aggregate Σ log(rank/N) over the components.
	LogRank = "logrank"
)

// Methods lists the ensemble methods.
var Methods = []string{Vote, MeanRank, LogRank}

// Component is one proxy of an ensemble.
type Component struct {
	Proxy string
	// Lower is true when a smaller value is better (written -NAME in a
	// specification, such as TE-NAS's condition number).
	Lower bool
}

func (c Component) String() string {
	if c.Lower {
		return "-" + c.Proxy
	}
	return c.Proxy
}

// Ensemble is a named combination of proxy ranks.
type Ensemble struct {
	Name       string
	Method     string
	Components []Component
	// Doc says where a built-in ensemble comes from.
	Doc string
}

// Spec is the ensemble's specification, METHOD:P1,P2,… (ParseEnsemble's
// form).
func (e Ensemble) Spec() string {
	parts := make([]string, len(e.Components))
	for i, c := range e.Components {
		parts[i] = c.String()
	}
	return e.Method + ":" + strings.Join(parts, ",")
}

// Proxies are the names of the ensemble's components.
func (e Ensemble) Proxies() []string {
	out := make([]string, len(e.Components))
	for i, c := range e.Components {
		out[i] = c.Proxy
	}
	return out
}

// Builtin lists the named ensembles, fixed before any ground truth was
// looked at (docs/ranking.md says where each comes from). te_nas and
// az_nas take the component names of their proxies.
var Builtin = []Ensemble{
	{Name: "paper_vote", Method: Vote, Components: comps("synflow", "jacob_cov", "snip"),
		Doc: "the paper's majority vote of synflow, jacob_cov and snip (Abdelfattah et al. 2021)"},
	{Name: "te_nas", Method: MeanRank, Components: comps("-ntk_cond", "linear_regions"),
		Doc: "TE-NAS (Chen et al. 2021): rank of the NTK condition number (lower is better) plus rank of the number of linear regions"},
	{Name: "az_nas", Method: LogRank, Components: comps("az_expressivity", "az_progressivity", "az_trainability", "flops"),
		Doc: "AZ-NAS (Lee & Ham 2024): Σ log(rank/N) of expressivity, progressivity, trainability and complexity (FLOPs)"},
	{Name: "vkdnw_agg", Method: LogRank, Components: comps("vkdnw", "az_expressivity", "az_trainability", "flops", "jacob_cov"),
		Doc: "VKDNW_agg (Tybl & Neumann 2025): Σ log(rank/N) of vkdnw, AZ-NAS's expressivity and trainability, FLOPs and jacob_cov (the NB201 script's vkdnw_comb_rank)"},
	{Name: "zc_sota", Method: LogRank, Components: comps("az_expressivity", "az_progressivity", "az_trainability", "flops", "vkdnw", "meco"),
		Doc: "Σ log(rank/N) of the three best published zero-training families: AZ-NAS's four components, VKDNW and MeCo (fixed before any of them was measured here)"},
	{Name: "zc_free", Method: LogRank, Components: comps("synflow", "params"),
		Doc: "data-free: Σ log(rank/N) of synflow and the parameter count"},
	{Name: "zc_data", Method: LogRank, Components: comps("synflow", "nwot", "jacob_cov", "snip"),
		Doc: "Σ log(rank/N) of synflow (data-free), nwot and jacob_cov (activations and input Jacobians of one batch) and snip (weight gradients): one proxy per kind of signal"},
}

func comps(names ...string) []Component {
	out := make([]Component, len(names))
	for i, n := range names {
		out[i] = Component{Proxy: strings.TrimPrefix(n, "-"), Lower: strings.HasPrefix(n, "-")}
	}
	return out
}

// LookupEnsemble returns a built-in ensemble by name.
func LookupEnsemble(name string) (Ensemble, bool) {
	for _, e := range Builtin {
		if e.Name == name {
			return e, true
		}
	}
	return Ensemble{}, false
}

// ParseEnsemble reads NAME=METHOD:P1,P2,… (METHOD one of vote, meanrank,
// logrank; -P for a proxy where lower is better) or the name of a built-in
// ensemble. One proxy is allowed: its ranking with the models where it
// failed ranked last (NASLib's convention for a failed proxy) instead of
// left out.
func ParseEnsemble(s string) (Ensemble, error) {
	s = strings.TrimSpace(s)
	name, spec, ok := strings.Cut(s, "=")
	if !ok {
		if e, ok := LookupEnsemble(s); ok {
			return e, nil
		}
		return Ensemble{}, fmt.Errorf("ranking: ensemble %q: want NAME=METHOD:PROXY,PROXY,… (METHOD one of %s) or a built-in ensemble (%s)", s, strings.Join(Methods, ", "), strings.Join(builtinNames(), ", "))
	}
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, ",:= ") {
		return Ensemble{}, fmt.Errorf("ranking: ensemble %q: the name before = must be non-empty, without spaces, commas, colons or =", s)
	}
	method, list, ok := strings.Cut(spec, ":")
	method = strings.TrimSpace(method)
	if !ok || !slices.Contains(Methods, method) {
		return Ensemble{}, fmt.Errorf("ranking: ensemble %q: want %s=METHOD:PROXY,PROXY,… with METHOD one of %s", s, name, strings.Join(Methods, ", "))
	}
	e := Ensemble{Name: name, Method: method}
	seen := map[string]bool{}
	for _, p := range strings.Split(list, ",") {
		c := comps(strings.TrimSpace(p))[0]
		if c.Proxy == "" {
			return Ensemble{}, fmt.Errorf("ranking: ensemble %q: empty proxy name in %q", s, list)
		}
		if seen[c.Proxy] {
			return Ensemble{}, fmt.Errorf("ranking: ensemble %q: proxy %q given twice", s, c.Proxy)
		}
		seen[c.Proxy] = true
		e.Components = append(e.Components, c)
	}
	return e, nil
}

func builtinNames() []string {
	out := make([]string, len(Builtin))
	for i, e := range Builtin {
		out[i] = e.Name
	}
	return out
}

// EnsembleValues computes an ensemble over the collection of records: one
// value per record, larger is better. Each component is ranked over the
// records that have a value or a recorded failure (Errors) for at least
// one component; a record without a value for a component (the proxy
// failed on it) is ranked last in that component, and missing counts, per
// component, how many were. Any other record (not scored with these
// proxies, or failed as a whole) gets NaN.
func EnsembleValues(records []Record, e Ensemble) (values []float64, missing map[string]int) {
	values = make([]float64, len(records))
	missing = map[string]int{}
	var in []int // records that take part
	for i, r := range records {
		values[i] = math.NaN()
		for _, c := range e.Components {
			_, failed := r.Errors[c.Proxy]
			if failed || !math.IsNaN(Value(r, c.Proxy)) {
				in = append(in, i)
				break
			}
		}
	}
	if len(in) == 0 {
		return values, missing
	}
	n := float64(len(in))
	// cols[k][j]: component k of record in[j], oriented so that larger is
	// better, −Inf where missing.
	cols := make([][]float64, len(e.Components))
	for k, c := range e.Components {
		cols[k] = make([]float64, len(in))
		for j, i := range in {
			v := Value(records[i], c.Proxy)
			switch {
			case math.IsNaN(v):
				v = math.Inf(-1)
				missing[c.Proxy]++
			case c.Lower:
				v = -v
			}
			cols[k][j] = v
		}
	}
	var out []float64
	switch e.Method {
	case Vote:
		out = copeland(cols)
	case MeanRank, LogRank:
		out = make([]float64, len(in))
		for _, col := range cols {
			for j, r := range Ranks(col) {
				if e.Method == LogRank {
					out[j] += math.Log(r / n)
				} else {
					out[j] += r / n / float64(len(cols))
				}
			}
		}
	default:
		panic("ranking: unknown ensemble method " + e.Method)
	}
	for j, i := range in {
		values[i] = out[j]
	}
	return values, missing
}

// copeland returns, for each of the n models of the columns (larger is
// better), the share of the other models that a majority of the columns
// ranks below it; a pair with as many columns for as against counts half.
func copeland(cols [][]float64) []float64 {
	n := len(cols[0])
	wins := make([]float64, n)
	for a := 0; a < n; a++ {
		for b := a + 1; b < n; b++ {
			votes := 0
			for _, col := range cols {
				switch {
				case col[a] > col[b]:
					votes++
				case col[a] < col[b]:
					votes--
				}
			}
			switch {
			case votes > 0:
				wins[a]++
			case votes < 0:
				wins[b]++
			default:
				wins[a] += 0.5
				wins[b] += 0.5
			}
		}
	}
	if n > 1 {
		for i := range wins {
			wins[i] /= float64(n - 1)
		}
	}
	return wins
}

// VotePairAccuracy is the paper's own measure of its vote: the share of the
// pairs of models with different truth that the majority of the components
// orders as the truth does (a tied vote counts half). Models need every
// component and a truth value.
func VotePairAccuracy(records []Record, truth map[string]float64, e Ensemble) (float64, int) {
	var cols [][]float64
	var y []float64
	for range e.Components {
		cols = append(cols, nil)
	}
	for _, r := range records {
		t, ok := truthOf(r, truth)
		if !ok {
			continue
		}
		row := make([]float64, len(e.Components))
		complete := true
		for k, c := range e.Components {
			v := Value(r, c.Proxy)
			if math.IsNaN(v) {
				complete = false
				break
			}
			if c.Lower {
				v = -v
			}
			row[k] = v
		}
		if !complete {
			continue
		}
		for k := range row {
			cols[k] = append(cols[k], row[k])
		}
		y = append(y, t)
	}
	right, total := 0.0, 0.0
	for a := range y {
		for b := a + 1; b < len(y); b++ {
			if y[a] == y[b] {
				continue
			}
			votes := 0
			for _, col := range cols {
				switch {
				case col[a] > col[b]:
					votes++
				case col[a] < col[b]:
					votes--
				}
			}
			total++
			switch {
			case votes == 0:
				right += 0.5
			case (votes > 0) == (y[a] > y[b]):
				right++
			}
		}
	}
	if total == 0 {
		return math.NaN(), len(y)
	}
	return right / total, len(y)
}

func truthOf(r Record, truth map[string]float64) (float64, bool) {
	t, ok := truth[r.Key]
	if !ok {
		t, ok = truth[r.Name]
	}
	return t, ok
}

// WithEnsembles returns copies of records that also hold each ensemble's
// value as a proxy column under the ensemble's name (the records' own maps
// are not changed), and a note per ensemble whose components were missing
// for some models.
func WithEnsembles(records []Record, es []Ensemble) ([]Record, []string) {
	out := slices.Clone(records)
	for i := range out {
		m := make(map[string]*proxies.ProxyResult, len(out[i].Proxies)+len(es))
		for k, v := range out[i].Proxies {
			m[k] = v
		}
		out[i].Proxies = m
	}
	var notes []string
	for _, e := range es {
		values, missing := EnsembleValues(records, e)
		for i, v := range values {
			if !math.IsNaN(v) {
				out[i].Proxies[e.Name] = &proxies.ProxyResult{Score: v}
			}
		}
		for _, p := range e.Proxies() {
			if missing[p] > 0 {
				notes = append(notes, fmt.Sprintf("ensemble %s: %d models have no %s; they rank last in it", e.Name, missing[p], p))
			}
		}
	}
	return out, notes
}

// Latest keeps one record per model: the last successful one, or the last
// one when none succeeded. A results file holds several lines for a model
// when a failure was retried, a run was repeated with other settings or
// shards were merged with overlaps; a model is its key (NAS-Bench-201
// index), or its name when it has none. The order of first appearance is
// kept.
func Latest(records []Record) []Record {
	pos := map[string]int{}
	var out []Record
	for _, r := range records {
		id := r.Key
		if id == "" {
			id = r.Name
		}
		i, seen := pos[id]
		switch {
		case !seen:
			pos[id] = len(out)
			out = append(out, r)
		case r.Error == "" || out[i].Error != "":
			out[i] = r
		}
	}
	return out
}
