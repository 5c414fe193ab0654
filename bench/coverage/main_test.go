package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "R.jsonl")
	lines := `{"name":"a.onnx","path":"/x/a.onnx","proxies":{"params":{"score":12,"time_ms":1},"synflow":{"score":0,"log10":400.5,"time_ms":1}},"errors":{"nwot":"proxies: /x/a.onnx has no Relu"}}
{"name":"b.onnx","path":"/x/b.onnx","error":"onnximport: /x/b.onnx: truncated"}
{"name":"c.onnx","path":"/x/c.onnx","proxies":{},"errors":{"nwot":"proxies: /x/c.onnx has no Relu"}}
partial line
`
	if err := os.WriteFile(res, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	status := filepath.Join(dir, "status.json")
	if err := os.WriteFile(status, []byte(`{"a":{"status":"exported"},"d.train":{"status":"not exported","why":"RuntimeError: x|y"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := run(&b, []string{res}, status); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| a | — |", "| 12 |", "1e400.5",
		"| E1 | proxies: MODEL has no Relu | a (nwot); c (nwot) |",
		"| E2 | onnximport: MODEL: truncated | b (every proxy) |",
		"not exported by PyTorch: RuntimeError: x\\|y",
		"3 models, 12 proxies: 2 values, 14 errors",
		"1 files PyTorch did not export",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
