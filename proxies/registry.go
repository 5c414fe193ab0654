package proxies

import (
	"fmt"
	"slices"
	"strings"
)

// Proxy is one entry of the registry: what the proxy needs from a model
// (the graph variant it runs on and the signals it reads from the runs)
// and how those signals reduce to a score. Each proxy is declared in its own
// file (grad_norm.go, zico.go, …) and joins the registry with register;
// Score's planner (plan.go) merges the needs of the requested proxies so
// that proxies of one variant share one graph and its runs.
type Proxy struct {
	Name    string
	Summary string
	// Order places the proxy in reports (Names, result columns): the paper's
	// proxies first, then NASWOT and the baselines (below 200), then the
	// proxies published since (200 and above: the group "later").
	Order       int
	NeedsData   bool // needs an input batch
	NeedsLabels bool // needs labels (drawn with Options.Seed when the batch has none)
	Variant     Variant
	Signals     Signals
	// Check, when set, says before any graph is built why the proxy cannot
	// score this model (nwot on a model without ReLU); the others still run.
	Check func(s *scorer) error
	// Reduce turns the signals of the variant's runs into the score.
	Reduce func(s *scorer, sig *signals) (*ProxyResult, error)
}

// Info is the registry entry of a proxy (the name Lookup has always returned).
type Info = *Proxy

// registry holds every proxy, sorted by Order.
var registry []*Proxy

// register adds a proxy to the registry; each proxy's file calls it from a
// package-level var so that adding a proxy touches no other file.
func register(p Proxy) *Proxy {
	if p.Reduce == nil {
		panic("proxies: " + p.Name + " has no Reduce")
	}
	if slices.ContainsFunc(registry, func(q *Proxy) bool { return q.Name == p.Name || q.Order == p.Order }) {
		panic("proxies: " + p.Name + ": name or order registered twice")
	}
	registry = append(registry, &p)
	slices.SortFunc(registry, func(a, b *Proxy) int { return a.Order - b.Order })
	return &p
}

// Registry returns every proxy, in the order results are reported.
func Registry() []*Proxy { return slices.Clone(registry) }

// Names returns the registry's proxy names in order.
func Names() []string {
	names := make([]string, len(registry))
	for i, p := range registry {
		names[i] = p.Name
	}
	return names
}

// DataFree lists the proxies that need no data and score the model's own
// weights (synflow, params, flops, …: the group "datafree"). The
// re-initialising proxies (zen, linear_regions, the AZ-NAS components)
// need no data either, but cost many runs on seeded weights: name them, or
// use "later" or "all".
func DataFree() []string {
	var names []string
	for _, p := range registry {
		if !p.NeedsData && p.Variant.Init == InitFile && p.Variant.Input == InputData {
			names = append(names, p.Name)
		}
	}
	return names
}

// Lookup returns the registry entry of a proxy.
func Lookup(name string) (Info, bool) {
	for _, p := range registry {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// paper lists the proxies of Abdelfattah et al. (2021).
var paper = []string{"grad_norm", "snip", "grasp", "fisher", "jacob_cov", "plain", "synflow", "synflow_bn"}

// Groups are the names that stand for several proxies in a list.
var Groups = map[string]func() []string{
	"all":       Names,
	"datafree":  DataFree,
	"data-free": DataFree,
	"paper":     func() []string { return slices.Clone(paper) },
	"later":     Later,
	"default":   Default,
}

// Default lists the proxies scored when none are named (Options.Proxies
// nil, an empty list, the CLI's default): every proxy but the later ones,
// several of which cost many runs per model (zico's float64 graph,
// gradsign's backward per sample); name them, or "all", to get them.
func Default() []string {
	var names []string
	for _, p := range registry {
		if p.Order < laterOrder {
			names = append(names, p.Name)
		}
	}
	return names
}

// laterOrder is the Order from which proxies belong to the group "later".
const laterOrder = 200

// Later lists the proxies published after the paper (zico, meco, …).
func Later() []string {
	var names []string
	for _, p := range registry {
		if p.Order >= laterOrder {
			names = append(names, p.Name)
		}
	}
	return names
}

// ParseList turns a comma-separated list of proxy and group names ("all",
// "default", "paper", "datafree", "later"), mixed freely ("datafree,nwot"), into proxy names in
// registry order, each once. An empty list is "default".
func ParseList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return Default(), nil
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
			return nil, fmt.Errorf("proxies: unknown proxy %q (known: %s; groups: all, default, paper, datafree, later)", name, strings.Join(Names(), ", "))
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
