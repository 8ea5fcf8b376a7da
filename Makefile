# make test   installs missing test servers, then vet, gofmt, race tests and a short fuzz
# make build  builds the commands into bin/
# make lint   go vet and the gofmt check

GO ?= go

.PHONY: test build lint deps

test: deps lint
	$(GO) test -race -count=1 -timeout=10m ./...
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=20s ./s3event/

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
