//go:build ignore

// gen_nb201archs writes nb201_archs.txt, the NAS-Bench-201 architecture
// list built into zerocost, from the benchmark's ground truth:
//
//	go generate ./zoo/    (runs: go run gen_nb201archs.go)
//
// The file has a comment line and then one line per benchmark index, in
// index order: the 6 edge ops of the cell as digits, in the order of the
// architecture string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|, with
// 0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3
// (the order of zoo.NB201Ops). TestNB201ArchsMatchGroundTruth checks the
// file against the CSV.
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
)

var ops = []string{"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}

func main() {
	in := flag.String("csv", "../../shared/data/nb201/nb201_accuracy.csv", "NAS-Bench-201 ground truth with index and arch columns")
	out := flag.String("out", "nb201_archs.txt", "file to write")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		log.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	iIdx, okI := col["index"]
	iArch, okA := col["arch"]
	if !okI || !okA {
		log.Fatalf("%s: want index and arch columns, got %v", *in, header)
	}
	var b strings.Builder
	b.WriteString("# NAS-Bench-201 cells by benchmark index (line 2 = index 0): 6 edge ops, 0 none 1 skip_connect 2 nor_conv_1x1 3 nor_conv_3x3 4 avg_pool_3x3; written by gen_nb201archs.go\n")
	for want := 0; ; want++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if i, err := strconv.Atoi(rec[iIdx]); err != nil || i != want {
			log.Fatalf("%s: row %d has index %q; want the rows in index order", *in, want+2, rec[iIdx])
		}
		code, err := encode(rec[iArch])
		if err != nil {
			log.Fatalf("%s: index %d: %v", *in, want, err)
		}
		b.WriteString(code + "\n")
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}

// encode turns "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" into 6 op digits.
func encode(arch string) (string, error) {
	var code []byte
	for node, part := range strings.Split(arch, "+") {
		edges := strings.Split(strings.Trim(part, "|"), "|")
		if len(edges) != node+1 {
			return "", fmt.Errorf("architecture %q: node %d has %d edges", arch, node+1, len(edges))
		}
		for from, e := range edges {
			op, src, _ := strings.Cut(e, "~")
			k := -1
			for i, o := range ops {
				if o == op {
					k = i
				}
			}
			if k < 0 || src != strconv.Itoa(from) {
				return "", fmt.Errorf("architecture %q: bad edge %q", arch, e)
			}
			code = append(code, byte('0'+k))
		}
	}
	if len(code) != 6 {
		return "", fmt.Errorf("architecture %q: want 3 nodes", arch)
	}
	return string(code), nil
}
