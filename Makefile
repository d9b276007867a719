# payroll — see README.md. `make demo` and `make test` are the two commands
# a new user needs; the rest are for developers.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/payroll
FUZZTIME  ?= 30s
BENCHTIME ?= 1x
PKGS      := ./...

.PHONY: all build test test-short bench fuzz vuln matrix chaos chaos-smoke corrupt lint fmt deps tidy-check demo clean

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
bench: build
	LEDGER_BENCH_CLAIM_LINES=1000000 $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 30m $(PKGS)
	PAYROLL=$(BIN) scripts/bench-intake
	PAYROLL=$(BIN) scripts/bench-run

## fuzz: run every fuzz target for FUZZTIME each and print the executions per target.
fuzz:
	@scripts/fuzz-all $(FUZZTIME)

## vuln: govulncheck v1.1.4 against the offline snapshot of the Go vulnerability
## database in ../shared/vulndb (VULNDB=<dir> for another copy; see its README for
## its date). Runs in CI. On a machine with network access: make vuln VULNDB=
VULNDB ?= ../shared/vulndb
vuln:
	@if [ -n "$(VULNDB)" ]; then \
	  test -f "$(VULNDB)/index/db.json" || { echo "vuln: no database at $(VULNDB) (VULNDB= for the online one)"; exit 1; }; \
	  echo "govulncheck v1.1.4, database $(VULNDB) ($$(grep -o '"modified": *"[^"]*"' $(VULNDB)/index/db.json | head -1))"; \
	  $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.1.4 -db "file://$$(cd $(VULNDB) && pwd)" ./...; \
	else $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.1.4 ./...; fi

## matrix: the fault matrix alone (every fault and every pair), with its totals (also runs in make test).
matrix:
	$(GO) test -count=1 -run '^TestFaultMatrix$$' -v ./cmd/payroll | grep -v -e '^=== ' -e '^        --- PASS'

## corrupt: 1,000 damaged copies of a settled ledger, each run against the sandbox:
## 0 payouts and 0 Go traces (make test runs 150).
corrupt:
	CORRUPT_COPIES=1000 $(GO) test -count=1 -run '^TestCorruptionFuzz$$' -v ./cmd/payroll | grep -E 'damaged copies|^(ok|FAIL|---)'

## chaos: SIGKILL the real binary 200 times at random and at every failpoint; check ledger vs sandbox truth.
chaos:
	@scripts/chaos

## chaos-smoke: the same with 20 kills (CI, under 3 minutes).
chaos-smoke:
	@scripts/chaos --smoke

## lint: gofmt, go vet, go.mod tidy and the import-direction rule of docs/design.md §1.
lint: deps tidy-check
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
