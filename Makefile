# The test command CI and the README use: format and static checks, vet, then
# every test with the race detector.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test build vet lint bench fuzz

build:
	$(GO) build -o edgelog ./cmd/edgelog

vet:
	$(GO) vet ./...

lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

test: vet lint
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./wal/

# fuzz runs every fuzz target briefly (FUZZTIME each).
FUZZTIME ?= 10s
fuzz:
	./scripts/fuzz-all $(FUZZTIME)
