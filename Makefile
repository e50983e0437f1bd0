# The test command CI and the README use: format and static checks, vet, then
# every test with the race detector.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test build vet lint bench fuzz release cross

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

# Static release binaries for the gateways and hubs edgelog targets.
RELEASE_TARGETS ?= linux/amd64 linux/arm64 linux/arm/7
release:
	@mkdir -p dist
	@for t in $(RELEASE_TARGETS); do \
		os=$${t%%/*}; rest=$${t#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
		name=edgelog-$$os-$$arch; [ "$$arch" = arm ] && name=$$name"v$$arm"; \
		echo "build dist/$$name"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags "-s -w" -o dist/$$name ./cmd/edgelog || exit 1; \
	done
	@ls -l dist

# cross checks that the non-native release targets compile (CI runs it).
CROSS_TARGETS ?= linux/arm64 linux/arm/7
cross:
	@for t in $(CROSS_TARGETS); do \
		os=$${t%%/*}; rest=$${t#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
		echo "cross-compile $$t"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -o /dev/null ./... || exit 1; \
	done

# bench-compare runs the side-by-side suite against Mosquitto and NATS
# (installed from Debian packages if missing) and writes
# benchmarks/results/ and benchmarks/plots/. ROUNDS=1 for a shorter run.
ROUNDS ?= 3
bench-compare:
	./benchmarks/run-all.sh -rounds $(ROUNDS)

# fuzz-ci is the fuzzing step of CI (after make test): every fuzz target
# for FUZZTIME_CI each.
FUZZTIME_CI ?= 4s
.PHONY: fuzz-ci soak
fuzz-ci:
	./scripts/fuzz-all $(FUZZTIME_CI)

# soak is the release check: the long forms of the reliability suite in
# tests/ (EDGELOG_SOAK=1) and SOAK_FUZZTIME of fuzzing per target; about
# 50 minutes on two cores (25 for the suite, 23 targets × 60 s). docs/RELIABILITY.md records its last figures.
SOAK_FUZZTIME ?= 60s
soak:
	./scripts/soak $(SOAK_FUZZTIME)
