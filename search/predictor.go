package search

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/zerocost/zerocost/ranking"
)

// Predictor is predictor-based search with a binary relation predictor in
// the style of BRP-NAS: an MLP s(x) over the space's encoding, trained on
// pairs of trained models to predict P(a better than b) = σ(s(a) − s(b)),
// so that it ranks the candidates. Each iteration trains PerIter models:
// half the top-predicted untrained candidates, half drawn at random from
// the rest of the predicted top TopK. The first iteration, with nothing to
// learn from, is random.
//
// With Warmup N, the predictor is first trained on the proxy's order of N
// random architectures (the first iteration is then predicted). With
// Features, the proxy's rank of each candidate within the pool (in [0, 1])
// is appended to the encoding (beyond the paper; the pool is scored once).
type Predictor struct {
	PerIter  int  // trained models per iteration; default 20
	TopK     int  // default 100
	Warmup   int  // 0: none
	Features bool // proxy scores as input features
	Hidden   int  // hidden units of the two layers; default 16
	Epochs   int  // full-batch epochs per fit; default 50 (warm-up: 2×)
	LR       float64
	// Pool is the number of candidates ranked per iteration when the space
	// is not Enumerable (an enumerable space ranks all of it); default 5000.
	Pool int
}

// Name implements Algorithm.
func (a *Predictor) Name() string {
	s := variantName("predictor", a.Warmup, 0)
	if a.Features {
		s += "+features"
	}
	return s
}

// Search implements Algorithm.
func (a *Predictor) Search(ctx context.Context, env *Env) error {
	perIter, topK, hidden, epochs, lr := a.PerIter, a.TopK, a.Hidden, a.Epochs, a.LR
	if perIter <= 0 {
		perIter = 20
	}
	if topK <= 0 {
		topK = 100
	}
	if hidden <= 0 {
		hidden = 16
	}
	if epochs <= 0 {
		epochs = 50
	}
	if lr <= 0 {
		lr = 0.01
	}
	var pool []string
	if en, ok := env.Space.(Enumerable); ok {
		pool = en.All()
	} else {
		n := a.Pool
		if n <= 0 {
			n = 5000
		}
		pool = candidates(env, n)
	}
	if len(pool) == 0 {
		return fmt.Errorf("search: the predictor has no candidates to rank")
	}
	index := make(map[string]int, len(pool))
	for i, p := range pool {
		index[p] = i
	}
	var feature []float64
	if a.Features {
		vals, err := env.Score(ctx, pool)
		if err != nil {
			return err
		}
		feature = ranking.Ranks(vals)
		for i := range feature {
			feature[i] = (feature[i] - 1) / float64(max(1, len(pool)-1))
		}
	}
	d := len(env.Space.Encode(pool[0]))
	if feature != nil {
		d++
	}
	if d == 0 {
		return fmt.Errorf("search: the predictor needs an encoding of the space or proxy features (Features), and has neither")
	}
	X := mat.NewDense(len(pool), d, nil)
	for i, p := range pool {
		x := env.Space.Encode(p)
		if len(x)+btoi(feature != nil) != d {
			return fmt.Errorf("search: the space encodes %s with %d numbers and %s with %d", pool[0], d-btoi(feature != nil), p, len(x))
		}
		row := X.RawRowView(i)
		copy(row, x)
		if feature != nil {
			row[d-1] = feature[i]
		}
	}
	in := newInputs(X)
	net := newMLP(d, hidden, env.Rng, lr)
	fitted := false
	if a.Warmup > 0 {
		cand := candidates(env, a.Warmup)
		vals, err := env.Score(ctx, cand)
		if err != nil {
			return err
		}
		rows := make([]int, 0, len(cand))
		y := make([]float64, 0, len(cand))
		for i, c := range cand {
			k, ok := index[c]
			if !ok {
				continue // a candidate outside the pool of a non-enumerable space
			}
			rows, y = append(rows, k), append(y, vals[i])
		}
		net.fit(in, rows, y, 2*epochs, env.Rng)
		fitted = true
	}
	var trainedRows []int
	var trainedY []float64
	for {
		var untrained []int
		for i, p := range pool {
			if !env.Seen(p) {
				untrained = append(untrained, i)
			}
		}
		if len(untrained) == 0 {
			return fmt.Errorf("search: the predictor has trained every candidate (%d) before the budget ran out", len(pool))
		}
		var pick []int
		if !fitted {
			for _, k := range env.Rng.Perm(len(untrained))[:min(perIter, len(untrained))] {
				pick = append(pick, untrained[k])
			}
		} else {
			pred := net.predict(in)
			untrained = topByValue(untrained, pred, max(topK, perIter))
			top := perIter / 2
			pick = append(pick, untrained[:min(top, len(untrained))]...)
			rest := untrained[min(top, len(untrained)):min(max(topK, perIter), len(untrained))]
			for _, k := range env.Rng.Perm(len(rest))[:min(perIter-len(pick), len(rest))] {
				pick = append(pick, rest[k])
			}
		}
		for _, k := range pick {
			t, err := env.Train(ctx, pool[k])
			if err != nil {
				return err
			}
			trainedRows, trainedY = append(trainedRows, k), append(trainedY, t.Valid)
		}
		net.fit(in, trainedRows, trainedY, epochs, env.Rng)
		fitted = true
	}
}

// inputs are the encodings of the candidates (one row each) with the
// indices of their non-zero entries: one-hot encodings are sparse, and the
// first layer only adds the weights of those.
type inputs struct {
	X  *mat.Dense
	nz [][]int
}

func newInputs(X *mat.Dense) *inputs {
	r, _ := X.Dims()
	in := &inputs{X: X, nz: make([][]int, r)}
	for i := 0; i < r; i++ {
		for j, v := range X.RawRowView(i) {
			if v != 0 {
				in.nz[i] = append(in.nz[i], j)
			}
		}
	}
	return in
}

// mlp is s(x) = w3·relu(W2 relu(W1 x + b1) + b2) + b3, its parameters in
// one slice (for Adam) viewed by the matrices; W1 is stored transposed
// (d×H), so that an input's weights are one contiguous row.
type mlp struct {
	params        []float64
	W1t, W2       *mat.Dense // d×H, H×H
	b1, b2, w3    []float64
	b3            *float64
	opt           *adam
	hidden, inDim int
	bufs          map[int][6]*mat.Dense // scratch matrices by row count
}

// scratch returns six r×H matrices, reused between calls with the same r
// (their contents are overwritten by the caller).
func (m *mlp) scratch(r int) [6]*mat.Dense {
	if b, ok := m.bufs[r]; ok {
		return b
	}
	if m.bufs == nil || len(m.bufs) > 64 {
		m.bufs = map[int][6]*mat.Dense{}
	}
	var b [6]*mat.Dense
	for i := range b {
		b[i] = mat.NewDense(r, m.hidden, nil)
	}
	m.bufs[r] = b
	return b
}

func newMLP(d, h int, rng *rand.Rand, lr float64) *mlp {
	n := h*d + h*h + 3*h + 1
	m := &mlp{params: make([]float64, n), hidden: h, inDim: d}
	p := m.params
	m.W1t = mat.NewDense(d, h, p[:h*d])
	p = p[h*d:]
	m.W2 = mat.NewDense(h, h, p[:h*h])
	p = p[h*h:]
	m.b1, m.b2, m.w3 = p[:h], p[h:2*h], p[2*h:3*h]
	m.b3 = &p[3*h]
	// PyTorch's default Linear initialisation: U(−1/√fan_in, 1/√fan_in).
	for _, w := range []struct {
		s   []float64
		fan int
	}{{m.W1t.RawMatrix().Data, d}, {m.b1, d}, {m.W2.RawMatrix().Data, h}, {m.b2, h}, {m.w3, h}, {p[3*h : 3*h+1], h}} {
		b := 1 / math.Sqrt(float64(w.fan))
		for i := range w.s {
			w.s[i] = (2*rng.Float64() - 1) * b
		}
	}
	m.opt = newAdam(n, lr)
	return m
}

// forward returns the pre-activations and activations of both layers and
// the scores of the given rows of in (nil: all).
func (m *mlp) forward(in *inputs, rows []int) (z1, a1, z2, a2 *mat.Dense, s []float64) {
	if rows == nil {
		rows = make([]int, len(in.nz))
		for i := range rows {
			rows[i] = i
		}
	}
	r := len(rows)
	buf := m.scratch(r)
	z1, a1, z2, a2 = buf[0], buf[1], buf[2], buf[3]
	for i, row := range rows {
		zr, ar, x := z1.RawRowView(i), a1.RawRowView(i), in.X.RawRowView(row)
		copy(zr, m.b1)
		for _, j := range in.nz[row] {
			floats.AddScaled(zr, x[j], m.W1t.RawRowView(j))
		}
		for j := range zr {
			ar[j] = max(zr[j], 0)
		}
	}
	s = make([]float64, r)
	for i := 0; i < r; i++ {
		zr, ar, a1r := z2.RawRowView(i), a2.RawRowView(i), a1.RawRowView(i)
		for j := range zr {
			zr[j] = m.b2[j] + floats.Dot(m.W2.RawRowView(j), a1r)
		}
		for j := range zr {
			ar[j] = max(zr[j], 0)
		}
		s[i] = floats.Dot(ar, m.w3) + *m.b3
	}
	return
}

// predict scores every row of in, in chunks that stay in the cache.
func (m *mlp) predict(in *inputs) []float64 {
	const chunk = 512
	out := make([]float64, 0, len(in.nz))
	rows := make([]int, 0, chunk)
	for start := 0; start < len(in.nz); start += chunk {
		rows = rows[:0]
		for i := start; i < min(start+chunk, len(in.nz)); i++ {
			rows = append(rows, i)
		}
		_, _, _, _, s := m.forward(in, rows)
		out = append(out, s...)
	}
	return out
}

// topByValue returns the k items of idx with the highest val[item], best
// first (ties in idx's order).
func topByValue(idx []int, val []float64, k int) []int {
	top := make([]int, 0, k+1)
	for _, i := range idx {
		if len(top) == k && val[i] <= val[top[k-1]] {
			continue
		}
		pos := sort.Search(len(top), func(p int) bool { return val[top[p]] < val[i] })
		top = slices.Insert(top, pos, i)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

// fit trains on the given rows of in with targets y for epochs full-batch
// Adam steps of the pairwise logistic loss over up to 8·len(rows) random
// pairs of different targets (oriented better first) per step.
func (m *mlp) fit(in *inputs, rows []int, y []float64, epochs int, rng *rand.Rand) {
	n := len(rows)
	if n < 2 {
		return
	}
	pairs := 8 * n
	grad := make([]float64, len(m.params))
	ds := make([]float64, n)
	for ep := 0; ep < epochs; ep++ {
		z1, a1, z2, a2, s := m.forward(in, rows)
		clear(ds)
		count := 0
		for p := 0; p < pairs; p++ {
			i, j := rng.IntN(n), rng.IntN(n)
			if y[i] == y[j] {
				continue
			}
			if y[i] < y[j] {
				i, j = j, i
			}
			// loss −log σ(s_i − s_j): d/ds_i = −(1 − σ) = −σ(s_j − s_i).
			g := -1 / (1 + math.Exp(s[i]-s[j]))
			ds[i] += g
			ds[j] -= g
			count++
		}
		if count == 0 {
			return
		}
		floats.Scale(1/float64(count), ds)
		m.backward(in, rows, z1, a1, z2, a2, ds, grad)
		upd := m.opt.update(grad)
		floats.Sub(m.params, upd)
	}
}

// backward writes the gradient of Σ ds_i s_i over the rows into grad
// (laid out as params).
func (m *mlp) backward(in *inputs, rows []int, z1, a1, z2, a2 *mat.Dense, ds, grad []float64) {
	h, d := m.hidden, m.inDim
	r := len(ds)
	clear(grad)
	gW1t := mat.NewDense(d, h, grad[:h*d])
	gW2 := mat.NewDense(h, h, grad[h*d:h*d+h*h])
	rest := grad[h*d+h*h:]
	gb1, gb2, gw3 := rest[:h], rest[h:2*h], rest[2*h:3*h]
	buf := m.scratch(r)
	dz2, dz1 := buf[4], buf[5]
	for i := 0; i < r; i++ {
		rest[3*h] += ds[i]
		ar, zr, dr := a2.RawRowView(i), z2.RawRowView(i), dz2.RawRowView(i)
		floats.AddScaled(gw3, ds[i], ar)
		for j := 0; j < h; j++ {
			dr[j] = 0
			if zr[j] > 0 {
				dr[j] = ds[i] * m.w3[j]
			}
		}
		floats.Add(gb2, dr)
	}
	for i := 0; i < r; i++ {
		zr, dr, d2, a1r := z1.RawRowView(i), dz1.RawRowView(i), dz2.RawRowView(i), a1.RawRowView(i)
		clear(dr)
		for j, g := range d2 {
			if g != 0 {
				floats.AddScaled(gW2.RawRowView(j), g, a1r)
				floats.AddScaled(dr, g, m.W2.RawRowView(j))
			}
		}
		for j := 0; j < h; j++ {
			if zr[j] <= 0 {
				dr[j] = 0
			}
		}
		floats.Add(gb1, dr)
		row := rows[i]
		x := in.X.RawRowView(row)
		for _, j := range in.nz[row] {
			floats.AddScaled(gW1t.RawRowView(j), x[j], dr)
		}
	}
}
