package autodiff

import (
	"sort"
	"strings"

	ox "github.com/zerocost/zerocost/onnximport"
)

// einsumGrad differentiates Einsum, which is linear in each operand: the
// gradient of operand i is the Einsum of the output's gradient with the
// other operands, "out,others->term_i". A letter that only operand i has
// (summed away, as j in "ij->i") is missing from that product: it is
// computed without the letter and broadcast back along it. Ellipses are
// written out as letters from the known ranks. Refused, naming the node: a
// letter repeated within one operand (a diagonal, "ii->i") and an ellipsis
// whose dimensions broadcast (1 against n) between operands.
func einsumGrad(c *gctx) error {
	terms, out, err := c.einsumTerms()
	if err != nil {
		return err
	}
	for i := range terms {
		if !c.needs(i) {
			continue
		}
		others := []string{out}
		inputs := []string{c.dOut(0)}
		have := map[rune]bool{}
		for _, r := range out {
			have[r] = true
		}
		for j, t := range terms {
			if j == i {
				continue
			}
			others = append(others, t)
			inputs = append(inputs, c.in(j))
			for _, r := range t {
				have[r] = true
			}
		}
		kept, missing := "", []int64{}
		for a, r := range terms[i] {
			if have[r] {
				kept += string(r)
			} else {
				missing = append(missing, int64(a))
			}
		}
		g := c.op("d_term", "Einsum", inputs, ox.AttrString("equation", strings.Join(others, ",")+"->"+kept))
		if len(missing) > 0 {
			g = c.unsqueeze(c.tmp("d_unsq"), g, missing)
			g = c.op("d_bcast", "Expand", []string{g, c.shapeOf(c.tmp("x_shape"), c.in(i))})
		}
		c.set(i, g)
	}
	return nil
}

// einsumTerms returns the node's operand terms and output term with every
// ellipsis written out as letters the equation does not use, and the
// implicit output (the letters used once, in alphabetical order) made
// explicit.
func (c *gctx) einsumTerms() ([]string, string, error) {
	eq := strings.ReplaceAll(ox.AttrStringOr(c.n, "equation", ""), " ", "")
	lhs, out, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(c.n.GetInput()) {
		return nil, "", c.errorf("equation %q has %d operands for %d inputs", eq, len(terms), len(c.n.GetInput()))
	}
	used := map[rune]bool{}
	for _, r := range eq {
		used[r] = true
	}
	var spare []rune // letters for the ellipsis dimensions, outermost first
	for _, r := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" {
		if !used[r] {
			spare = append(spare, r)
		}
	}
	ellipsis := 0 // dimensions under the widest ellipsis
	var ellipsisDims []int64
	for i, t := range terms {
		if !strings.Contains(t, "...") {
			continue
		}
		dims := c.inDims(i)
		n := len(dims) - (len(t) - 3)
		if n < 0 {
			return nil, "", c.errorf("operand %d (%q) has rank %d", i, t, len(dims))
		}
		if n > ellipsis {
			ellipsis = n
		}
		// Right-aligned, as broadcasting aligns them.
		ed := dims[strings.Index(t, "...") : strings.Index(t, "...")+n]
		for k := range ed {
			at := len(ed) - 1 - k
			if len(ellipsisDims) <= k {
				ellipsisDims = append(ellipsisDims, ed[at])
			} else if ellipsisDims[k] != ed[at] {
				return nil, "", c.errorf("the ellipsis dimensions of the operands broadcast (%d against %d): not supported", ellipsisDims[k], ed[at])
			}
		}
	}
	if ellipsis > len(spare) {
		return nil, "", c.errorf("too many ellipsis dimensions (%d)", ellipsis)
	}
	expand := func(t string, n int) string {
		return strings.Replace(t, "...", string(spare[ellipsis-n:ellipsis]), 1)
	}
	counts := map[rune]int{}
	for i, t := range terms {
		if strings.Contains(t, "...") {
			terms[i] = expand(t, len(c.inDims(i))-(len(t)-3))
		}
		seen := map[rune]bool{}
		for _, r := range terms[i] {
			if seen[r] {
				return nil, "", c.errorf("the letter %q repeats in operand %d (%q): diagonals are not supported", r, i, t)
			}
			seen[r] = true
			counts[r]++
		}
	}
	if explicit {
		if strings.Contains(out, "...") {
			out = expand(out, ellipsis)
		}
	} else {
		var once []string
		for r, n := range counts {
			if n == 1 && !strings.ContainsRune(string(spare[:ellipsis]), r) {
				once = append(once, string(r))
			}
		}
		sort.Strings(once)
		out = string(spare[:ellipsis]) + strings.Join(once, "")
	}
	return terms, out, nil
}
