# dllmbench: `make test` is everything CI runs.
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X dllmbench/internal/buildinfo.version=$(VERSION) \
             -X dllmbench/internal/buildinfo.commit=$(COMMIT) \
             -X dllmbench/internal/buildinfo.date=$(DATE)
export CGO_ENABLED := 0

.PHONY: all build test vet fmt-check unit clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dllmbench ./cmd/dllmbench

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 $(PKGS)

test: build vet fmt-check unit

clean:
	rm -rf bin dist
