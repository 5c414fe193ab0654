package proxies_test

import (
	"slices"
	"testing"

	"github.com/zerocost/zerocost/proxies"
)

func TestParseListMixesGroupsAndNames(t *testing.T) {
	for i, c := range []struct {
		in   string
		want []string
	}{
		{"datafree,nwot", []string{"synflow", "synflow_bn", "nwot", "params", "flops", "l2_norm", "layers", "layers_live"}},
		{"nwot, synflow,nwot", []string{"synflow", "nwot"}},
		{"paper,params", []string{"grad_norm", "snip", "grasp", "fisher", "jacob_cov", "plain", "synflow", "synflow_bn", "params"}},
		{"", proxies.Default()},
		{"default,zico", append(proxies.Default(), "zico")},
		{"all,snip", proxies.Names()},
	} {
		got, err := proxies.ParseList(c.in)
		if err != nil {
			t.Errorf("case %d (%q): %v", i, c.in, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("case %d (%q): want %v, got %v", i, c.in, c.want, got)
		}
	}
	if _, err := proxies.ParseList("datafree,bogus"); err == nil {
		t.Error("datafree,bogus: want an error naming bogus")
	}
}
