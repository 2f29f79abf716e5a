# The README's commands. GOTOOLCHAIN=local: build with the installed Go 1.26.
export GOTOOLCHAIN := local

.PHONY: test demo fuzz bench build

# Run every test. The report ends with the tests that were skipped and why
# (known-answer tests skip without ../shared/vectors; PKCS#11 tests without
# SoftHSM2). -tags pkcs11 adds the PKCS#11 signer (cgo) and its tests; plain
# `go test ./...` runs all the others.
test:
	go test -tags pkcs11 -count=1 -json ./... | go run ./internal/testreport

demo:
	go run ./cmd/conda-trust demo

build:
	# -buildvcs=auto: --version reports the commit even where GOFLAGS turns stamping off.
	# -tags pkcs11: keys in PKCS#11 tokens (cgo; a plain go build leaves it out).
	go build -buildvcs=auto -tags pkcs11 -o bin/ ./cmd/conda-trust ./cmd/conda-sign

# Run each fuzz target for a short while (FUZZTIME=10m for longer).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$(go list ./...); do \
	  for t in $$(go test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; go test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Benchmarks; compare runs with benchstat (see docs/performance.md).
bench:
	go test -run '^$$' -bench . -benchmem -count 6 ./... | tee bench.txt
