# The two commands: `make run` starts the switch on the default v0 topology,
# `make test` installs what the tests need and runs them all.
GO ?= go
FUZZTIME ?= 10s
BENCHTIME ?= 1s

.PHONY: run test deps vet staticcheck unit bench fuzz build

run:
	$(GO) run ./cmd/spacenet run

build:
	$(GO) build -o bin/spacenet ./cmd/spacenet

test: deps vet staticcheck unit

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

# The race detector allocates, so allocation tests skip under -race: they run
# again without it.
unit:
	$(GO) test -race -timeout 12m ./...
	$(GO) test -count=1 -timeout 5m -run 'Alloc' ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh
