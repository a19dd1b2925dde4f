# The two commands a newcomer needs:
#   make run    — the product, offline and zero-config (bff dev + built SPA)
#   make test   — every test: Go (unit, integration, contract, fuzz seeds),
#                 the SPA's unit tests, the spec lint and the browser tests.
#                 It sets itself up (test-deps): installs redis-server,
#                 nginx and chromium with apt when run as
#                 root, or stops naming the packages to install; npm ci.
SHELL := /bin/bash
GO ?= go
NPM ?= npm
FRONTEND := frontend

.PHONY: run test test-deps test-go test-frontend test-e2e test-logto lint build bench frontend-deps frontend-build fuzz clean

run: frontend-build
	BFF_SPA_DIR=$(FRONTEND)/dist $(GO) run ./backend/cmd/bff dev

build: frontend-build
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/bff ./backend/cmd/bff

test: test-deps test-go test-frontend test-e2e

# Installs (as root, with apt) or names what the tests need; see the script.
test-deps:
	@.ci/test-deps

# CI=true: a missing redis-server or nginx fails its tests instead of
# skipping them (test-deps has made sure they are there).
test-go: test-deps
	$(GO) vet ./...
	CI=true $(GO) test -count=1 -timeout 15m ./...

# Opt-in: bff logto setup/doctor and the BFF's flows against a real Logto
# 1.37.1 built by ../shared/reallogto/setup.sh. RESETS that Logto's tenant.
#   make test-logto LOGTO_IT_DIR=/path/to/reallogto/dir
test-logto:
	@test -n "$(LOGTO_IT_DIR)" || { echo "make test-logto: set LOGTO_IT_DIR to a real Logto's directory from ../shared/reallogto/setup.sh (its tenant is reset)"; exit 2; }
	LOGTO_IT_DIR="$(LOGTO_IT_DIR)" $(GO) test -count=1 -v -timeout 10m ./backend/internal/logtoit/

frontend-deps:
	@if [ -f $(FRONTEND)/package.json ]; then \
	  cd $(FRONTEND) && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || $(NPM) ci --no-audit --no-fund; }; fi

frontend-build: frontend-deps
	@if [ -f $(FRONTEND)/package.json ]; then cd $(FRONTEND) && $(NPM) run build; fi

test-frontend: frontend-deps
	@if [ -f $(FRONTEND)/package.json ]; then cd $(FRONTEND) && $(NPM) run check && $(NPM) test; fi

test-e2e: test-deps frontend-build
	@if [ -f $(FRONTEND)/package.json ]; then cd $(FRONTEND) && $(NPM) run e2e; fi

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l backend)" || { gofmt -l backend; exit 1; }

# The load harness (backend/cmd/bffbench): real redis-server, dev IdP, the
# BFF as separate processes, oauth2-proxy v7.15.6 side by side (the harness
# go-installs it into bin/tools), wrk; servers pinned to CPU 0, wrk to CPU 1
# (taskset). BENCHFLAGS e.g. -quick, -rounds 3, -skip-scale, -skip-memory,
# -skip-oauth2-proxy, -pin=false (go run ./backend/cmd/bffbench -h lists them).
bench:
	@command -v wrk >/dev/null || apt-get install -y wrk
	@command -v taskset >/dev/null || apt-get install -y util-linux
	$(GO) run ./backend/cmd/bffbench $(BENCHFLAGS)

# Fuzz each target for FUZZTIME (seed corpora always run as part of `make test`).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./backend/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

clean:
	rm -rf bin $(FRONTEND)/dist
