# The two commands: `make run` starts the switch on the default v0 topology,
# `make test` installs what the tests need and runs them all.
GO ?= go
FUZZTIME ?= 10s
BENCHTIME ?= 1s

.PHONY: run test deps vet staticcheck unit bench fuzz build man

run:
	$(GO) run ./cmd/spacenet run

build:
	$(GO) build -ldflags "-X main.commit=$$(git rev-parse HEAD 2>/dev/null)" -o bin/spacenet ./cmd/spacenet

# Man pages of every command, from the cobra tree (the same text as --help),
# written to bin/man/man1: read one with `man -l bin/man/man1/spacenet-inject.1`.
man:
	$(GO) run ./cmd/spacenet man bin/man/man1

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
