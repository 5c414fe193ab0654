# zerocost: the two commands that do everything on a fresh machine are `make run` and `make test`.
GO ?= go
BIN := bin/zerocost

.PHONY: setup oracle build run test bench fmt vet clean

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

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 5x ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
