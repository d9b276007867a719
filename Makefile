# payroll — see README.md. `make demo` and `make test` are the two commands
# a new user needs; the rest are for developers.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/payroll
FUZZTIME  ?= 30s
BENCHTIME ?= 1x
PKGS      := ./...

.PHONY: all build test test-race bench fuzz fuzz-seeds lint fmt deps tidy-check demo clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/payroll

## test: vet, import-direction check, then every test (fuzz seed corpora included) with the race detector.
test: lint
	$(GO) test -race -count=1 $(PKGS)

## test-short: the quick subset (-short skips the long crash and streaming runs).
test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: the benchmarks whose figures are in the README (about 5 minutes;
## run it on a quiet machine: the KiotaPay benchmark measures pacing).
bench:
	LEDGER_BENCH_CLAIM_LINES=1000000 $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 30m $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (go test allows one target per run).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## lint: gofmt, go vet and the import-direction rule of DESIGN.md §1.
lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

deps:
	@scripts/check-deps

tidy-check:
	$(GO) mod tidy -diff

fmt:
	gofmt -w $$(git ls-files '*.go')

## demo: the main job on the built-in sandbox, no credentials needed.
demo: build
	@scripts/demo

clean:
	rm -rf bin demo
	$(GO) clean -testcache
