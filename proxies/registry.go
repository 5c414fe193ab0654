package proxies

import (
	"fmt"
	"strings"
)

// group is a graph variant and batch shared by several proxies.
type group int

const (
	groupStatic    group = iota // weights and shapes only
	groupCE                     // cross-entropy head, BN as requested (train), the data batch
	groupSum                    // sum-of-outputs head, the data batch
	groupSynflow                // |params|, BN removed, one all-ones sample, rescaled to fit float32
	groupSynflowBN              // |params|, train-mode BN, one all-ones sample
)

// Info describes a proxy of the registry.
type Info struct {
	Name        string
	NeedsData   bool // needs an input batch
	NeedsLabels bool // needs labels
	Summary     string
	group       group
}

// Registry lists every proxy, in the order results are reported.
var Registry = []Info{
	{"grad_norm", true, true, "Σ_l ‖dL/dW_l‖₂", groupCE},
	{"snip", true, true, "Σ |dL/dW ⊙ W| (connection sensitivity)", groupCE},
	{"grasp", true, true, "Σ −W ⊙ (H·g), g = dL/dW; H·g by differentiating the gradient graph again", groupCE},
	{"fisher", true, true, "per channel 0.5·mean_n(Σ a·dL/da)², times fan-in", groupCE},
	{"jacob_cov", true, false, "−Σ log(v+k) + 1/(v+k) over eigenvalues v of the correlation of input Jacobians, k = 1e-5", groupSum},
	{"plain", true, true, "Σ dL/dW ⊙ W", groupCE},
	{"synflow", false, false, "Σ |W ⊙ dR/dW|, |params|, no BN, one all-ones sample, R = Σ outputs", groupSynflow},
	{"synflow_bn", false, false, "synflow with train-mode BN on the single sample", groupSynflowBN},
	{"nwot", true, false, "NASWOT: log|det K|, K = Σ_ReLU c·cᵀ + (1−c)(1−c)ᵀ", groupSum},
	{"params", false, false, "number of parameters", groupStatic},
	{"flops", false, false, "multiply-accumulates of the layers for one sample", groupStatic},
	{"l2_norm", false, false, "Σ_l ‖W_l‖₂", groupStatic},
}

// Names returns the registry's proxy names in order.
func Names() []string {
	names := make([]string, len(Registry))
	for i, p := range Registry {
		names[i] = p.Name
	}
	return names
}

// DataFree lists the proxies that need no data.
func DataFree() []string {
	var names []string
	for _, p := range Registry {
		if !p.NeedsData {
			names = append(names, p.Name)
		}
	}
	return names
}

// Lookup returns the registry entry of a proxy.
func Lookup(name string) (Info, bool) {
	for _, p := range Registry {
		if p.Name == name {
			return p, true
		}
	}
	return Info{}, false
}

// Groups are the names that stand for several proxies in a list.
var Groups = map[string]func() []string{
	"all":       Names,
	"datafree":  DataFree,
	"data-free": DataFree,
	"paper": func() []string {
		return []string{"grad_norm", "snip", "grasp", "fisher", "jacob_cov", "plain", "synflow", "synflow_bn"}
	},
}

// ParseList turns a comma-separated list of proxy and group names ("all",
// "paper", "datafree"), mixed freely ("datafree,nwot"), into proxy names in
// registry order, each once. An empty list is "all".
func ParseList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return Names(), nil
	}
	want := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name := strings.TrimSpace(part)
		if group, ok := Groups[name]; ok {
			for _, n := range group() {
				want[n] = true
			}
			continue
		}
		if _, ok := Lookup(name); !ok {
			return nil, fmt.Errorf("proxies: unknown proxy %q (known: %s; groups: all, paper, datafree)", name, strings.Join(Names(), ", "))
		}
		want[name] = true
	}
	var out []string
	for _, n := range Names() {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
