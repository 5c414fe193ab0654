package ranking

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/zerocost/zerocost/proxies"
)

// MergeReport says what Merge found in its files.
type MergeReport struct {
	Files   int // results files read
	Records int // records read
	Skipped int // lines that were not records (torn lines of killed runs)
	// Duplicates are records of a model and settings already read with
	// the same scores (kept once); Retried are failures replaced by a
	// success of the same model and settings.
	Duplicates, Retried int
	Conflicts           []Conflict
	// Failed are the merged records that hold a failure (no file has a
	// success for that model and settings).
	Failed []Record
	// Missing lists, per settings hash, the entries given to Merge that
	// have no record with those settings.
	Missing map[string][]Entry
	// Settings counts the merged records per settings hash.
	Settings map[string]int
}

// Conflict is a model scored twice with the same settings and different
// results: the first one read is kept.
type Conflict struct {
	Name, Settings string
	Kept, Dropped  string // FILE:LINE of each record
	What           string // the first difference
}

// Merge joins results files (the shards of a run, or runs resumed in
// several places) into one record per model and settings: a model is its
// content hash (the path for a record without one). The same scores twice
// are one record, a success replaces a failure, and different scores are a
// Conflict; a proxy that failed in one record and has a value in another
// takes the value. Scores are the same when they agree to a relative 1e-6 (two
// CPUs may round differently). With entries (the collection the shards
// were ranked from), the report lists those without a record: entries
// built in memory (NAS-Bench-201 sources) are matched by path, files by
// content hash. The records come out by settings, then key (numerically
// when both are numbers), name and path.
func Merge(files []string, entries []Entry) ([]Record, MergeReport, error) {
	rep := MergeReport{Files: len(files), Missing: map[string][]Entry{}, Settings: map[string]int{}}
	type kept struct {
		rec   Record
		where string
	}
	byID := map[string]*kept{}
	var order []string
	for _, file := range files {
		if _, err := os.Stat(file); err != nil { // a missing shard is an error here
			return nil, rep, fmt.Errorf("ranking: %w", err)
		}
		recs, lines, skipped, err := readResultLines(file)
		if err != nil {
			return nil, rep, err
		}
		if len(recs) == 0 && skipped > 0 {
			return nil, rep, fmt.Errorf("ranking: %s holds no results records (%d lines that are not one): want the --results JSONL file of rank", file, skipped)
		}
		rep.Records += len(recs)
		rep.Skipped += skipped
		for i, r := range recs {
			where := fmt.Sprintf("%s:%d", file, lines[i])
			id := r.Settings + " " + recordModel(r)
			k, ok := byID[id]
			switch {
			case !ok:
				byID[id] = &kept{r, where}
				order = append(order, id)
			case k.rec.Error != "" && r.Error == "":
				k.rec, k.where = r, where
				rep.Retried++
			case r.Error != "":
				rep.Duplicates++ // a failure next to a success or another failure
			default:
				switch filled, d := fillFailed(&k.rec, r); {
				case d != "":
					rep.Conflicts = append(rep.Conflicts, Conflict{Name: r.Name, Settings: r.Settings, Kept: k.where, Dropped: where, What: d})
				case filled:
					rep.Retried++
				default:
					rep.Duplicates++
				}
			}
		}
	}
	// A failure before the model was read is known by its path only: a
	// success of the same path and settings replaces it too.
	succeeded := map[string]bool{}
	for _, k := range byID {
		if k.rec.Error == "" {
			succeeded[k.rec.Settings+" "+k.rec.Path] = true
		}
	}
	out := make([]Record, 0, len(order))
	for _, id := range order {
		r := byID[id].rec
		if r.Error != "" && r.SHA256 == "" && succeeded[r.Settings+" "+r.Path] {
			rep.Retried++
			continue
		}
		out = append(out, r)
		rep.Settings[r.Settings]++
		if r.Error != "" {
			rep.Failed = append(rep.Failed, r)
		}
	}
	slices.SortStableFunc(out, compareRecords)
	if len(entries) > 0 {
		have := map[string]bool{}
		for _, r := range out {
			have[r.Settings+" "+r.SHA256] = true
			have[r.Settings+" path "+r.Path] = true
		}
		for settings := range rep.Settings {
			for _, e := range entries {
				id := settings + " path " + e.Path
				if e.Model == nil {
					if sum, err := FileSHA256(e.Path); err == nil {
						id = settings + " " + sum
					}
				}
				if !have[id] {
					rep.Missing[settings] = append(rep.Missing[settings], e)
				}
			}
		}
	}
	return out, rep, nil
}

// recordModel identifies the model of a record: its content hash, or its
// path when it failed before it was read.
func recordModel(r Record) string {
	if r.SHA256 != "" {
		return r.SHA256
	}
	return "path " + r.Path
}

// fillFailed compares two successful records of a model and settings. A
// proxy that failed in kept (a memory refusal while the machine was short
// of memory, say) and has a value in r takes r's value; filled says whether
// one did. d describes the first real difference, "" when there is none:
// values that disagree, or a proxy that is in one record only.
func fillFailed(kept *Record, r Record) (filled bool, d string) {
	names := map[string]bool{}
	for _, rec := range []Record{*kept, r} {
		for p := range rec.Proxies {
			names[p] = true
		}
		for p := range rec.Errors {
			names[p] = true
		}
	}
	var fill []string
	for _, p := range slices.Sorted(maps.Keys(names)) {
		pa, pb := kept.Proxies[p], r.Proxies[p]
		_, failedA := kept.Errors[p]
		_, failedB := r.Errors[p]
		switch {
		case pa != nil && pb != nil:
			if !closeEnough(pa.Score, pb.Score) {
				return false, fmt.Sprintf("%s %g against %g", p, pa.Score, pb.Score)
			}
			if (pa.Log10 == nil) != (pb.Log10 == nil) || pa.Log10 != nil && !closeEnough(*pa.Log10, *pb.Log10) {
				return false, fmt.Sprintf("log10(%s) differs", p)
			}
		case pa == nil && failedA && pb != nil:
			fill = append(fill, p)
		case pa != nil && pb == nil && failedB, pa == nil && pb == nil && failedA && failedB:
			// kept has the value, or both failed
		default:
			return false, fmt.Sprintf("%s is in one record only", p)
		}
	}
	for _, p := range fill {
		if kept.Proxies == nil {
			kept.Proxies = map[string]*proxies.ProxyResult{}
		}
		kept.Proxies[p] = r.Proxies[p]
		delete(kept.Errors, p)
	}
	if len(kept.Errors) == 0 {
		kept.Errors = nil
	}
	return len(fill) > 0, ""
}

func closeEnough(x, y float64) bool {
	if x == y || math.IsNaN(x) && math.IsNaN(y) {
		return true
	}
	return math.Abs(x-y) <= 1e-6*max(math.Abs(x), math.Abs(y))
}

// compareRecords orders records by settings, key (numerically when both
// are integers), name and path.
func compareRecords(a, b Record) int {
	if c := cmp.Compare(a.Settings, b.Settings); c != 0 {
		return c
	}
	ka, errA := strconv.Atoi(a.Key)
	kb, errB := strconv.Atoi(b.Key)
	if errA == nil && errB == nil && ka != kb {
		return cmp.Compare(ka, kb)
	}
	if c := cmp.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Path, b.Path)
}
