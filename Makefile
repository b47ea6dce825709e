# dllmbench: `make test` is everything CI runs (.ci/run calls it).
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X dllmbench/internal/buildinfo.version=$(VERSION) \
             -X dllmbench/internal/buildinfo.commit=$(COMMIT) \
             -X dllmbench/internal/buildinfo.date=$(DATE)
export CGO_ENABLED := 0

.PHONY: all build test setup vet staticcheck fmt-check unit scripts dist gpu clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dllmbench ./cmd/dllmbench

# What the tests need beyond Go, installed when missing (root, Debian):
# Chromium for the HTML report's browser test, the SLURM and munge packages
# for the cluster test, which starts its own single-node cluster on loopback
# and stops exactly the daemons it started, and NVRTC (Debian non-free) so
# that every CUDA kernel is compiled for sm_90 even without a GPU. Each
# script says why it cannot install; the tests that need them skip with that
# reason, and the browser and cluster tests fail instead under CI=true.
setup:
	scripts/test/chromium.sh
	scripts/test/slurm-setup.sh || [ "$${CI:-}" != true ]
	scripts/test/nvrtc.sh

vet:
	$(GO) vet $(PKGS)

# staticcheck finds what vet does not: unused code, values never read,
# deprecated calls. Pinned, fetched from the module proxy on first use.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The cluster test runs when it can (root and the packages); CI=true makes a
# missing prerequisite a failure.
unit:
	SLURM_LOCAL_TESTS=1 $(GO) test -count=1 -timeout 45m $(PKGS)

# The scripts for the GPU machine cannot run here, but they must parse;
# table.py (which judges the targets) is tested on made-up results, and
# energy_line.py (the peers' energy) on made-up counters.
scripts:
	@for f in $$(git ls-files '*.sh') .ci/run; do bash -n "$$f" || exit 1; done
	@if command -v python3 >/dev/null; then \
		python3 -m py_compile $$(git ls-files '*.py') && python3 scripts/gpu/table_test.py && \
			python3 scripts/gpu/energy_line_test.py; \
	elif [ "$${CI:-}" = true ]; then echo "scripts: python3 is missing"; exit 1; \
	else echo "scripts: no python3, the Python scripts are not checked"; fi

test: setup build vet staticcheck fmt-check scripts unit

# Static release binaries for linux/amd64 and linux/arm64 with SHA256SUMS.
dist:
	VERSION=$(VERSION) COMMIT=$(COMMIT) DATE=$(DATE) scripts/dist.sh

# Cross-built binaries and test binaries for the GPU machine (.gpu/bin).
gpu:
	scripts/gpu/build.sh

clean:
	rm -rf bin dist
