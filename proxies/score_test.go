package proxies_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/zoo"
)

func TestTinyCNNAllProxies(t *testing.T) {
	testort.Init(t)
	batch := &data.Batch{Input: data.RandomNormal([]int64{4, 3, 16, 16}, 1)}
	res, err := proxies.Score(zoo.TinyCNN(1, 10), proxies.Options{Batch: batch, PerLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", " ")
	t.Log(string(b))
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
}

// Score hashes its own serialisation of the model, unless the caller gives
// the file's SHA-256 (ranking and serve do, having read the file).
func TestScoreSHA256(t *testing.T) {
	testort.Init(t)
	m := zoo.TinyCNN(1, 10)
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	res, err := proxies.Score(m, proxies.Options{Proxies: []string{"params"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]); res.SHA256 != want {
		t.Errorf("SHA256 %s, want the serialisation's %s", res.SHA256, want)
	}
	given := strings.Repeat("ab", 32)
	res, err = proxies.Score(m, proxies.Options{Proxies: []string{"params"}, SHA256: given})
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != given {
		t.Errorf("SHA256 %s, want the given %s", res.SHA256, given)
	}
}
