# make test   installs missing test servers, then vet, gofmt, race tests and a short fuzz
# make build  builds the commands into bin/
# make lint   go vet and the gofmt check
# make dist   static linux/amd64 and linux/arm64 binaries of both commands into dist/
# make systemd-check  the unit (systemd-analyze verify, security score) and install.sh
# make cfn-check      the CloudFormation template (goformation tests, cfn-lint; skipped without it unless CI=true)

GO ?= go

# The version stamped into the binaries (main.version); override with make dist VERSION=v1.2.3.
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
DIST_PLATFORMS ?= linux/amd64 linux/arm64
DIST_COMMANDS := s3cached s3cache

.PHONY: test build lint deps dist systemd-check cfn-check

test: deps lint
	$(GO) test -race -count=1 -timeout=10m ./...
	# Budgets in executions (about 20 s each here), not seconds: with a duration, Go 1.26's
	# fuzz coordinator can fail a run at its deadline on a busy machine with "context
	# deadline exceeded", no input at fault (go.dev/issue/75804, fixed in Go 1.27).
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=1000000x ./s3event/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeRecords -fuzztime=1500000x ./s3event/

build:
	$(GO) build -o bin/ ./cmd/...

lint:
	$(GO) vet ./...
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$unformatted"; exit 1; \
	fi

deps:
	scripts/install-test-deps.sh

# dist/<os>_<arch>/{s3cached,s3cache} and dist/SHA256SUMS; install one with
# sudo systemd/install.sh --bin-dir dist/linux_arm64
dist:
	rm -rf dist
	@set -e; for platform in $(DIST_PLATFORMS); do \
		os=$${platform%/*}; arch=$${platform#*/}; \
		for cmd in $(DIST_COMMANDS); do \
			echo "dist/$${os}_$${arch}/$$cmd ($(VERSION))"; \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath \
				-ldflags '-s -w -X main.version=$(VERSION)' -o dist/$${os}_$${arch}/$$cmd ./cmd/$$cmd; \
		done; \
	done
	cd dist && sha256sum */* > SHA256SUMS

systemd-check:
	$(GO) test -count=1 -v ./systemd/

cfn-check:
	$(GO) test -count=1 -v ./cfn/

# make bench  the benchmark against real local servers: one table (BENCHMARKS.md explains
# it); make bench QUICK=1 for a one-minute run, PROFILE=aws for the latency benchmark
# (AWS-like latency between the daemon and the servers), BENCHFLAGS=--json for JSON.
# Not part of make test or CI.
.PHONY: bench
bench: deps
	$(GO) run ./cmd/s3cache-bench $(if $(QUICK),--quick) $(if $(PROFILE),--profile $(PROFILE)) $(BENCHFLAGS)
