package ranking

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/zerocost/zerocost/data"
)

// A results file made with other repeats of the re-initialising proxies is
// not resumed from; the default (0: each proxy's own) keeps the hash that
// files written before --repeats reached rank carry.
func TestSettingsHashRepeats(t *testing.T) {
	opts := Options{Proxies: []string{"zen"}}
	own := settingsHash(opts)
	before, _ := json.Marshal(struct {
		P []string
		D data.DataSpec
		B string
		O string `json:",omitempty"`
		H string `json:",omitempty"`
	}{opts.Proxies, opts.Data, opts.Score.BN.String(), "", ""})
	if s := sha256.Sum256(before); own != hex.EncodeToString(s[:8]) {
		t.Errorf("the default repeats changed the settings hash: %s, before %x", own, s[:8])
	}
	opts.Score.Repeats = 4
	if settingsHash(opts) == own {
		t.Error("--repeats 4 gives the same settings hash as the proxies' own repeats")
	}
}
