package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zerocost/zerocost/ranking"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merge", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: zerocost merge R1.jsonl R2.jsonl... -o ALL.jsonl [--models PATH]...\n\nJoins the results files of the shards of a rank (or of runs resumed in several places) into one record per\nmodel and settings. The same scores twice are kept once; a success replaces a failure; different scores\nare reported as conflicts. With --models, the models of the collection without a record are listed.\nExit 1 when there are conflicts or missing models (the merged file is written all the same).\n\nFlags:")
		fs.PrintDefaults()
	}
	output := fs.String("o", "", "merged results file to write (required)")
	var models listFlag
	fs.Var(&models, "models", "the collection the shards ranked (as given to rank: folder, file, manifest or nb201: source; repeatable): its models without a record are listed")
	showMissing := fs.Int("show", 20, "list at most this many missing or failed models and conflicts")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("want the results files to merge (R1.jsonl R2.jsonl ...)")
	}
	if *output == "" {
		return usagef("-o ALL.jsonl is required")
	}
	for _, f := range files {
		if same, _ := sameFile(f, *output); same {
			return usagef("-o %s is also an input: write the merge to a new file", *output)
		}
	}
	var entries []ranking.Entry
	if len(models) > 0 {
		if entries, err = collect(models); err != nil {
			return err
		}
	}
	records, rep, err := ranking.Merge(files, entries)
	if err != nil {
		return err
	}
	if err := writeResults(*output, records); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merged %d files: %d records read, %d written to %s (%d duplicates dropped, %d failures replaced by a success, %d unreadable lines)\n",
		rep.Files, rep.Records, len(records), *output, rep.Duplicates, rep.Retried, rep.Skipped)
	if len(rep.Settings) > 1 {
		fmt.Fprintf(stdout, "%d different settings (proxies or data): eval ranks all of them together; merge the results of one setting at a time\n", len(rep.Settings))
	}
	show := func(what string, lines []string) {
		fmt.Fprintf(stdout, "%d %s:\n", len(lines), what)
		for i, l := range lines {
			if i == *showMissing {
				fmt.Fprintf(stdout, "  ... and %d more\n", len(lines)-i)
				break
			}
			fmt.Fprintf(stdout, "  %s\n", l)
		}
	}
	var problems []string
	if len(rep.Conflicts) > 0 {
		var lines []string
		for _, c := range rep.Conflicts {
			lines = append(lines, fmt.Sprintf("%s (settings %s): %s; kept %s, dropped %s", c.Name, c.Settings, c.What, c.Kept, c.Dropped))
		}
		show("conflicting duplicates (same model and settings, different scores)", lines)
		problems = append(problems, fmt.Sprintf("%d conflicts", len(rep.Conflicts)))
	}
	if len(rep.Failed) > 0 {
		var lines []string
		for _, r := range rep.Failed {
			lines = append(lines, fmt.Sprintf("%s: %s", r.Name, r.Error))
		}
		show("failed models (no file has a success)", lines)
	}
	for _, settings := range slices.Sorted(maps.Keys(rep.Missing)) {
		missing := rep.Missing[settings]
		var lines []string
		for _, e := range missing {
			lines = append(lines, fmt.Sprintf("%s (%s)", e.Name, e.Path))
		}
		show(fmt.Sprintf("of %d models missing (settings %s; rerun their shard to add them)", len(entries), settings), lines)
		problems = append(problems, fmt.Sprintf("%d models missing", len(missing)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s (%s is written)", strings.Join(problems, ", "), *output)
	}
	return nil
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// writeResults writes records as a JSONL results file, through a temporary
// file renamed into place, so that a reader never sees half of it.
func writeResults(path string, records []ranking.Record) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	enc := json.NewEncoder(tmp)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			tmp.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
