# ecsgate — build, run, test. `make run` serves the demo; `make test` runs
# every test the project has (unit, Rego, integration, short fuzzing).

GO        ?= go
BIN       ?= bin/ecsgate
DEMO_BIN  ?= bin/ecsgate-demo
# An execution count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a clean run with "context deadline exceeded" when the
# deadline races a busy worker (golang/go#75804, fixed in Go 1.27).
FUZZTIME  ?= 150000x
PKGS      := ./...

.PHONY: all build build-demo run test test-go test-e2e policy-test fuzz-short lint fmt vet bench clean

all: build build-demo

## build: the production binary (no simulator; what the Dockerfile ships)
build:
	$(GO) build -o $(BIN) ./cmd/ecsgate

## build-demo: the demo binary, ecsgate plus the ECS simulator
build-demo:
	$(GO) build -o $(DEMO_BIN) ./cmd/ecsgate-demo

## run: the gateway on 127.0.0.1:8080 in front of the built-in ECS simulator
run: build-demo
	./$(DEMO_BIN)

## test: everything CI runs
test: lint policy-test test-go fuzz-short

test-go:
	$(GO) test -count=1 -timeout 20m $(PKGS)

## test-e2e: the real binary in front of a real Keystone + nova-api (Debian
## packages, installed on first run; see test/openstack and test/e2e)
test-e2e:
	bash test/e2e/run.sh

## policy-test: the shipped Rego policy and the rule library, formatted,
## strictly checked and tested. rego/capabilities.json declares the gateway's
## built-ins (ecs.server), which the Rego tests mock; testdata holds modules
## only the Go tests in ./rego load, which also run the Rego tests from go test.
policy-test:
	$(GO) tool opa fmt --list --fail rego/
	$(GO) tool opa check --strict --capabilities rego/capabilities.json rego/
	$(GO) tool opa test --fail-on-empty --capabilities rego/capabilities.json --ignore testdata --ignore capabilities.json rego/
	$(GO) test -count=1 ./rego/

## fuzz-short: FUZZTIME executions of each fuzz target beyond its checked-in corpus (a few seconds)
fuzz-short:
	@set -e; for target in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' proxy internal | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $$target\(" --include='*_test.go' proxy internal | head -1 | xargs dirname); \
		echo "fuzz $$target in ./$$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) ./$$pkg; \
	done

lint: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) tool opa fmt -w rego/

## bench: wrk on loopback, a varied request mix: the upstream directly, plain
## reverse_proxy and ecs_policy sites (shipped, inventory, deny, trivial
## policies), one process each, interleaved rounds; about 5 minutes, QUICK=1
## about one (see bench/README.md)
bench:
	bash bench/run.sh

clean:
	rm -rf bin
