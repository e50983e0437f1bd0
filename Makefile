# The test command CI and the README use: vet, then every test with the race detector.
GO ?= go

.PHONY: test build vet bench fuzz

build:
	$(GO) build -o edgelog ./cmd/edgelog

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./wal/

# fuzz runs every fuzz target briefly (FUZZTIME each).
FUZZTIME ?= 10s
fuzz:
	./scripts/fuzz-all $(FUZZTIME)
