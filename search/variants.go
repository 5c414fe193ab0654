package search

import (
	"fmt"
	"strings"
)

// Algorithms are the names Settings.Algo takes.
var Algorithms = []string{"rs", "rea", "reinforce", "predictor"}

// Settings choose an algorithm and its parameters by name, as the CLI's
// flags do; zero values mean the defaults of each algorithm.
type Settings struct {
	Algo     string // rs, rea, reinforce or predictor
	Warmup   int    // proxy-scored candidates before training (predictor: pre-training architectures)
	Move     int    // rea: 1 for the proxy move proposal; reinforce: candidates per step
	Features bool   // predictor: proxy scores as input features

	Pool, Tournament int     // rea
	RandomMove       float64 // rea: probability of a random move with Move
	LR               float64 // reinforce, predictor
	PerIter, TopK    int     // predictor
}

// Algorithm builds the algorithm the settings name.
func (s Settings) Algorithm() (Algorithm, error) {
	if s.Warmup < 0 || s.Move < 0 {
		return nil, fmt.Errorf("search: warm-up and move must be >= 0, got %d and %d", s.Warmup, s.Move)
	}
	switch s.Algo {
	case "rs":
		if s.Move > 0 || s.Features {
			return nil, fmt.Errorf("search: random search has no move proposal or features (only a warm-up)")
		}
		return &RandomSearch{Warmup: s.Warmup}, nil
	case "rea":
		if s.Move > 1 {
			return nil, fmt.Errorf("search: aging evolution's move proposal is on (1) or off (0), got %d", s.Move)
		}
		if s.Features {
			return nil, fmt.Errorf("search: aging evolution has no features")
		}
		return &Evolution{Pool: s.Pool, Tournament: s.Tournament, Warmup: s.Warmup, Move: s.Move == 1, RandomMove: s.RandomMove}, nil
	case "reinforce":
		if s.Features {
			return nil, fmt.Errorf("search: REINFORCE has no features")
		}
		return &Reinforce{LR: s.LR, Warmup: s.Warmup, Move: s.Move}, nil
	case "predictor":
		if s.Move > 0 {
			return nil, fmt.Errorf("search: the predictor has no move proposal (it ranks every candidate)")
		}
		return &Predictor{Warmup: s.Warmup, Features: s.Features, LR: s.LR, PerIter: s.PerIter, TopK: s.TopK}, nil
	}
	return nil, fmt.Errorf("search: unknown algorithm %q (want one of %s)", s.Algo, strings.Join(Algorithms, ", "))
}

// UsesProxy reports whether the variant scores anything.
func (s Settings) UsesProxy() bool {
	return s.Warmup > 0 || s.Move > 0 || s.Features
}

// Compare returns the variants of the paper's figure for s's algorithm,
// its other settings kept: none, the warm-up sizes, the move proposal
// (and, for the predictor, proxy features, beyond the paper).
func (s Settings) Compare() []Settings {
	with := func(warmup, move int, features bool) Settings {
		v := s
		v.Warmup, v.Move, v.Features = warmup, move, features
		return v
	}
	switch s.Algo {
	case "rs":
		return []Settings{with(0, 0, false), with(1000, 0, false), with(3000, 0, false), with(15625, 0, false)}
	case "rea":
		return []Settings{with(0, 0, false), with(1000, 0, false), with(3000, 0, false), with(15625, 0, false), with(0, 1, false), with(3000, 1, false)}
	case "reinforce":
		return []Settings{with(0, 0, false), with(1000, 0, false), with(3000, 0, false), with(15625, 0, false), with(0, 10, false), with(0, 100, false)}
	case "predictor":
		return []Settings{with(0, 0, false), with(256, 0, false), with(512, 0, false), with(0, 0, true), with(256, 0, true)}
	}
	return []Settings{s}
}
