# bpfmatrix: the two set-up commands are `make matrix` and `make test`.
GO        ?= go
BIN       := bin
KERNELS   ?=
REPORT    ?= report
# Same as vm.AgentLDFlags: smaller guest binaries unpack faster in every guest.
AGENT_LDFLAGS := -s -w
export CGO_ENABLED := 0

.PHONY: all build deps test test-unit bench matrix bpf bpf-check lint clean

all: build

deps:
	./scripts/install-deps.sh

build:
	$(GO) build -o $(BIN)/bpfmatrix ./cmd/bpfmatrix
	$(GO) build -trimpath -ldflags='$(AGENT_LDFLAGS)' -o $(BIN)/bpfmatrix-agent ./cmd/bpfmatrix-agent
	GOARCH=amd64 $(GO) build -trimpath -ldflags='$(AGENT_LDFLAGS)' -o $(BIN)/bpfmatrix-agent-amd64 ./cmd/bpfmatrix-agent
	GOARCH=arm64 $(GO) build -trimpath -ldflags='$(AGENT_LDFLAGS)' -o $(BIN)/bpfmatrix-agent-arm64 ./cmd/bpfmatrix-agent
	$(GO) build -trimpath -ldflags='$(AGENT_LDFLAGS)' -o $(BIN)/bpfmatrix-init ./cmd/bpfmatrix-init
	GOARCH=amd64 $(GO) build -trimpath -ldflags='$(AGENT_LDFLAGS)' -o $(BIN)/bpfmatrix-init-amd64 ./cmd/bpfmatrix-init
	GOARCH=arm64 $(GO) build -trimpath -ldflags='$(AGENT_LDFLAGS)' -o $(BIN)/bpfmatrix-init-arm64 ./cmd/bpfmatrix-init

# Full test suite, including tests that boot real kernels under QEMU.
test: deps build bpf-check
	$(GO) vet ./...
	$(GO) test -timeout 30m ./...

test-unit:
	$(GO) test -short ./...

# Side-by-side measurements (README "Measured"): each benchmark times the
# thing and its baseline in the same iterations.
bench: deps build
	$(GO) test -run '^$$' -bench '^BenchmarkProbeVsBpftool$$' -benchtime 20x ./tests/
	$(GO) test -run '^$$' -bench '^BenchmarkCorpus' -benchtime 20x ./internal/verifier/
	$(GO) test -run '^$$' -bench '^BenchmarkHTMLInChromium$$' -benchtime 3x ./internal/matrix/
	$(GO) test -run '^$$' -bench '^BenchmarkMerge20$$' -benchtime 3x ./internal/matrix/
	$(GO) test -run '^$$' -bench '^BenchmarkVerifyBlob' -benchtime 2s ./internal/fetch/
	$(GO) test -run '^$$' -bench '^BenchmarkExtract$$' -benchtime 20x ./internal/needs/
	$(GO) test -run '^$$' -bench '^BenchmarkBoots$$' -benchtime 1x -timeout 30m ./vmtest/
	$(GO) test -run '^$$' -bench '^BenchmarkBoot$$' -benchtime 20x -timeout 30m ./tests/
	$(GO) test -run '^$$' -bench '^BenchmarkRun$$' -benchtime 2x -timeout 30m ./tests/
	$(GO) test -run '^$$' -bench '^BenchmarkObserve$$' -benchtime 2x -timeout 30m ./tests/

matrix: deps build
	$(BIN)/bpfmatrix run --out $(REPORT) $(if $(KERNELS),--kernels $(KERNELS))

# Verifier corpus objects (bpf/corpus/*.o) and the check/repro test objects
# (tests/testdata/objects/*.o) from their C sources with clang-14.
bpf:
	$(GO) run ./bpf/gen
	$(MAKE) -C tests/testdata/objects

# Fails when a committed object differs from a fresh build (CI).
bpf-check:
	$(GO) run ./bpf/gen -check
	$(MAKE) -s -C tests/testdata/objects check

clean:
	rm -rf $(BIN)
