# zerocost: the two commands that do everything on a fresh machine are `make run` and `make test`.
GO ?= go
BIN := bin/zerocost

.PHONY: setup oracle build run test fuzz-short fuzz-long bench fmt vet clean

setup:
	@scripts/setup.sh

# Debian's PyTorch, torchvision and onnx: only the fixture generators under testdata/ need them.
oracle:
	@scripts/setup.sh --oracle

build: setup
	$(GO) build -o $(BIN) ./cmd/zerocost

run: build
	$(BIN) demo

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	$(MAKE) fuzz-short

# Every fuzz target (package:target), run by fuzz-short for FUZZTIME each
# (CI) and by fuzz-long for a measured run (docs/robustness.md). Their seed
# corpora in testdata/fuzz/ also run as plain tests in `go test`.
FUZZ_TARGETS := onnximport:FuzzParse engine:FuzzShapes data:FuzzDecodeNPY data:FuzzDecodeCIFAR10 \
	ranking:FuzzCSVManifest ranking:FuzzJSONLManifest
FUZZTIME ?= 3s

fuzz-short:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s -parallel 1 ./$$pkg/ > $$log 2>&1 || { cat $$log; exit 1; }; \
		grep -h 'elapsed: ' $$log | tail -1; \
	done

fuzz-long:
	$(MAKE) fuzz-short FUZZTIME=$${FUZZTIME_LONG:-3m}

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 5x ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
