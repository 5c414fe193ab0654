// Command coverage prints the coverage table of a zerocost rank run: one row
// per model, one column per proxy, each cell the proxy's value or a note
// pointing at the reason it does not apply (the error zerocost recorded).
//
//	zerocost rank /tmp/zerocost-coverage --proxies all --batch-size 2 --results R.jsonl
//	go run ./bench/coverage [-status /tmp/zerocost-coverage/status.json] R.jsonl [R2.jsonl …]
//
// The results files are read with ranking.ReadResults; a model in several
// files keeps its last record. -status reads the status.json that
// scripts/export_coverage.py writes, so that models PyTorch could not export
// get a row saying why. The output is markdown: the table, then the distinct
// error reasons (E1, E2, …) with the cells that have them, then the counts.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/ranking"
)

func main() {
	status := flag.String("status", "", "status.json of scripts/export_coverage.py: models that did not export get a row")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./bench/coverage [-status STATUS.json] RESULTS.jsonl…")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Args(), *status); err != nil {
		fmt.Fprintln(os.Stderr, "coverage:", err)
		os.Exit(1)
	}
}

// exportStatus is one entry of export_coverage.py's status.json.
type exportStatus struct {
	Status string `json:"status"`
	Why    string `json:"why"`
}

func run(w io.Writer, files []string, statusPath string) error {
	byName := map[string]ranking.Record{}
	for _, f := range files {
		recs, err := ranking.ReadResults(f)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return fmt.Errorf("%s: no results", f)
		}
		for _, r := range recs {
			byName[modelName(r)] = r
		}
	}
	var notExported [][2]string
	if statusPath != "" {
		b, err := os.ReadFile(statusPath)
		if err != nil {
			return err
		}
		st := map[string]exportStatus{}
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("%s: %w", statusPath, err)
		}
		for k, v := range st {
			if v.Status != "exported" {
				notExported = append(notExported, [2]string{k, v.Why})
			}
		}
		sort.Slice(notExported, func(i, j int) bool { return notExported[i][0] < notExported[j][0] })
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	cols := proxies.Default() // the proxies the coverage set was scored with

	reasons := map[string]int{} // error text -> 1-based index, in order of first appearance
	var order []string
	cellsOf := map[int][]string{}
	reason := func(msg, cell string) int {
		i, ok := reasons[msg]
		if !ok {
			order = append(order, msg)
			i = len(order)
			reasons[msg] = i
		}
		cellsOf[i] = append(cellsOf[i], cell)
		return i
	}
	values, errs, missing := 0, 0, 0

	fmt.Fprintf(w, "| model | %s |\n|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, n := range names {
		r := byName[n]
		cells := make([]string, len(cols))
		for i, p := range cols {
			switch {
			case r.Error != "":
				cells[i] = fmt.Sprintf("E%d", reason(shorten(r.Error, r.Path), n+": every proxy"))
				errs++
			case r.Proxies[p] != nil:
				cells[i] = format(p, r.Proxies[p])
				values++
			case r.Errors[p] != "":
				cells[i] = fmt.Sprintf("E%d", reason(shorten(r.Errors[p], r.Path), n+": "+p))
				errs++
			default:
				cells[i] = "—"
				missing++
			}
		}
		// A failed model's reason counts once, not once per proxy.
		if r.Error != "" {
			i := reasons[shorten(r.Error, r.Path)]
			cellsOf[i] = dedupe(cellsOf[i])
		}
		fmt.Fprintf(w, "| %s | %s |\n", n, strings.Join(cells, " | "))
	}
	for _, ne := range notExported {
		fmt.Fprintf(w, "| %s | not exported by PyTorch: %s |%s\n", ne[0], mdEscape(ne[1]), strings.Repeat(" |", len(cols)-1))
	}
	fmt.Fprintf(w, "\n%d models, %d proxies: %d values, %d errors (a proxy that does not apply, or the model failed), %d not computed (—)", len(names), len(cols), values, errs, missing)
	if len(notExported) > 0 {
		fmt.Fprintf(w, "; %d files PyTorch did not export", len(notExported))
	}
	fmt.Fprintln(w, ".")
	if len(order) > 0 {
		fmt.Fprintln(w, "\n| reason | error | cells |\n|---|---|---|")
		for i, msg := range order {
			fmt.Fprintf(w, "| E%d | %s | %s |\n", i+1, mdEscape(msg), mdEscape(summarise(cellsOf[i+1])))
		}
	}
	return nil
}

// modelName is the file name without .onnx (the folder is the same for all).
func modelName(r ranking.Record) string {
	n := r.Name
	if n == "" {
		n = filepath.Base(r.Path)
	}
	return strings.TrimSuffix(n, ".onnx")
}

// format prints a value in 4 significant digits; synflow's as 1eX when it is
// only known by its log.
func format(name string, p *proxies.ProxyResult) string {
	if p.Log10 != nil && (p.Score == 0 || p.Score > 1e300) {
		return "1e" + strconv.FormatFloat(*p.Log10, 'f', 1, 64)
	}
	return strconv.FormatFloat(p.Score, 'g', 4, 64)
}

// shorten drops the model's path from an error so that the same reason on
// different models is one reason.
func shorten(msg, path string) string {
	if path != "" {
		msg = strings.ReplaceAll(msg, path, "MODEL")
		msg = strings.ReplaceAll(msg, filepath.Base(path), "MODEL")
	}
	return strings.TrimSpace(msg)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// summarise lists the cells that have a reason, grouped by model.
func summarise(cells []string) string {
	var models []string
	per := map[string][]string{}
	for _, c := range cells {
		m, p, _ := strings.Cut(c, ": ")
		if _, ok := per[m]; !ok {
			models = append(models, m)
		}
		per[m] = append(per[m], p)
	}
	parts := make([]string, len(models))
	for i, m := range models {
		parts[i] = m + " (" + strings.Join(per[m], ", ") + ")"
	}
	return strings.Join(parts, "; ")
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
