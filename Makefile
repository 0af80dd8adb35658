# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go
# Go 1.26.8's standard library has known vulnerabilities (net/http,
# crypto/tls, crypto/x509, html/template; see `make vuln`); the go command
# fetches this release from the module proxy on first use. Override with
# GOTOOLCHAIN=... when a newer approved release is available.
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
GO_DIRS := functions shared lua schema sdk knative terraform
# The deployment checks live in their own Go modules, so the main module does
# not carry Knative's or HCL's dependencies.
DEPLOY_MODULES := knative terraform
KO ?= $(GO) run github.com/google/ko@v0.19.1

.PHONY: run test check sizes vuln staticcheck fuzz chaos migrate build images bench bench-scale console console-test

# The admin web console (functions/console/web: React + TypeScript, built
# by Vite into functions/console/dist, which the Go binary embeds). It needs
# Node.js 20+ and npm; `make console` installs its packages (npm ci) when
# package-lock.json changes and rebuilds when a source is newer than the
# build. The Go packages build and test without it (the function then
# answers 503 console_not_built).
CONSOLE_WEB := functions/console/web
CONSOLE_BUILT := functions/console/dist/index.html
CONSOLE_MODULES := $(CONSOLE_WEB)/node_modules/.package-lock.json
CONSOLE_SOURCES := $(shell find $(CONSOLE_WEB)/src $(CONSOLE_WEB)/scripts -type f ! -name '*.gen.ts' ! -name '*.test.ts' 2>/dev/null) \
  $(addprefix $(CONSOLE_WEB)/,index.html docs.html vite.config.ts tsconfig.json package.json) functions/openapi/spec.json
# Chromium for the console's browser tests: Debian's (Playwright's own
# browser download cannot work here); .ci/run installs it when missing.
CHROMIUM ?= /usr/bin/chromium

# Security tooling, pinned. govulncheck reads a vulnerability database built
# from the golang.org/x/vulndb module (served by the module proxy like any
# module), so the check needs no access to vuln.go.dev; bump VULNDB_VERSION to
# pick up newer reports, or set VULNDB=https://vuln.go.dev where it is
# reachable.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK ?= $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB ?= file://$(CURDIR)/bin/vulndb-$(VULNDB_VERSION)

# Every log line the servers under test write is also appended here; after
# the suite, a test scans it all for secrets.
LOG_CAPTURE := $(CURDIR)/bin/test-logs

## run: every function on one local server (embedded Redis and throwaway
## PostgreSQL unless REDIS_URL / DATABASE_URL are set).
run: console
	$(GO) run ./functions/cmd/devserver

## test: formatting, vet, then the whole suite with the race detector against
## real Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432).
test: check console
	rm -rf $(LOG_CAPTURE) && mkdir -p $(LOG_CAPTURE)
	LICENSE_LOG_CAPTURE=$(LOG_CAPTURE) $(GO) test -race -count=1 -timeout 20m ./...
	for m in $(DEPLOY_MODULES); do (cd $$m && $(GO) test -count=1 ./...) || exit 1; done
	$(MAKE) console-test
	LICENSE_LOG_CAPTURE=$(LOG_CAPTURE) $(GO) test -count=1 -tags logscan -run '^TestSuiteLogsHoldNoSecrets$$' ./shared/testenv/logscan

## console: build the web console when its sources are newer than the build.
console: $(CONSOLE_BUILT)
$(CONSOLE_MODULES): $(CONSOLE_WEB)/package-lock.json
	cd $(CONSOLE_WEB) && npm ci --no-audit --no-fund
$(CONSOLE_BUILT): $(CONSOLE_MODULES) $(CONSOLE_SOURCES)
	cd $(CONSOLE_WEB) && npm run build

## console-test: the console's unit tests (Vitest), its size budget, then
## its end-to-end tests in Chromium against the local server (bin/devserver,
## with the built console) on real Redis and PostgreSQL, axe-core on every
## page. Screenshots go to bin/console-screenshots.
console-test: console bin/devserver
	@test -x $(CHROMIUM) || { echo "console-test: Chromium is not at $(CHROMIUM): apt-get install -y chromium (.ci/run does)"; exit 1; }
	cd $(CONSOLE_WEB) && npx vitest run
	cd $(CONSOLE_WEB) && node scripts/budget.mjs
	cd $(CONSOLE_WEB) && CHROMIUM=$(CHROMIUM) DEVSERVER=$(CURDIR)/bin/devserver SCREENSHOTS=$(CURDIR)/bin/console-screenshots npx playwright test

## check: gofmt, go vet (every module), staticcheck, govulncheck and
## terraform fmt (when terraform is installed; the terraform module's test
## checks HCL formatting either way).
check: sizes staticcheck vuln
	@out=$$(gofmt -l $(GO_DIRS)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	for m in $(DEPLOY_MODULES) functions/cmd/bench; do (cd $$m && $(GO) vet ./...) || exit 1; done
	@if command -v terraform >/dev/null; then TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive terraform; fi

## sizes: no tracked file over 1 MB. Nothing built or generated goes into
## git; a file that large is almost always a binary or a generated corpus.
MAX_TRACKED_BYTES := 1048576
sizes:
	@big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' | awk '$$1 > $(MAX_TRACKED_BYTES)'); \
	  if [ -n "$$big" ]; then echo "tracked files over $(MAX_TRACKED_BYTES) bytes (build outputs do not go into git):"; echo "$$big"; exit 1; fi

## staticcheck: every package of the service.
staticcheck:
	$(STATICCHECK) ./...

## vuln: known vulnerabilities reachable from the service's code (its
## dependencies and the Go standard library of GOTOOLCHAIN).
vuln: bin/vulndb-$(VULNDB_VERSION)/index/db.json
	$(GOVULNCHECK) -db $(VULNDB) ./...

bin/vulndb-$(VULNDB_VERSION)/index/db.json:
	@mkdir -p bin
	src=$$(cd / && $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/.*"Dir": "\(.*\)",/\1/p') && \
	  test -d "$$src/data/osv" && \
	  $(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$src/data/osv" -out bin/vulndb-$(VULNDB_VERSION).tmp && \
	  rm -rf bin/vulndb-$(VULNDB_VERSION) && mv bin/vulndb-$(VULNDB_VERSION).tmp bin/vulndb-$(VULNDB_VERSION)

## fuzz: every Fuzz target of the service for FUZZTIME each (their seed
## corpora also run as plain tests in make test).
FUZZTIME ?= 30s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz: $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

## chaos: the seat invariant through server and Redis restarts, for
## CHAOS_DURATION (make test runs a short version).
CHAOS_DURATION ?= 3m
chaos:
	CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -race -count=1 -timeout 15m -run '^TestSeatInvariantUnderChaos$$' -v ./functions/cmd/devserver

## migrate: apply the schema migrations to DATABASE_URL.
migrate:
	$(GO) run ./functions/cmd/migrate

## build: the production entry point (FUNCTION_TARGET picks the function).
build:
	$(GO) build -o bin/function ./functions/cmd/function

## images: build the function image with ko, push it to KO_DOCKER_REPO, and
## write the Knative services, pinned to the image's digest, to
## bin/knative-services.yaml (apply it after replacing PROJECT_ID).
## FUNCTION=<name> resolves only knative/services/<name>.yaml into
## bin/knative-<name>.yaml: applying it rolls out that function alone (a new
## revision of its Knative service), though every function shares the image.
FUNCTIONS := $(sort $(basename $(notdir $(wildcard knative/services/*.yaml))))
FUNCTION ?=
IMAGES_OUT := $(if $(FUNCTION),bin/knative-$(FUNCTION).yaml,bin/knative-services.yaml)
IMAGES_IN := $(if $(FUNCTION),knative/services/$(FUNCTION).yaml,knative/services/)
# Checked when make reads the Makefile, so a mistyped name fails before the
# console build, and `make -n` refuses it too.
ifneq ($(filter images,$(MAKECMDGOALS)),)
ifneq ($(FUNCTION),)
ifneq ($(words $(FUNCTION))$(filter $(FUNCTION),$(FUNCTIONS)),1$(FUNCTION))
$(error FUNCTION=$(FUNCTION) is not one function of knative/services; known: $(FUNCTIONS))
endif
endif
endif
images: console
	@test -n "$(KO_DOCKER_REPO)" || { echo "KO_DOCKER_REPO is required, e.g. europe-west1-docker.pkg.dev/PROJECT/license-server"; exit 1; }
	@mkdir -p bin
	KO_CONFIG_PATH=knative/ KO_DOCKER_REPO=$(KO_DOCKER_REPO) $(KO) resolve --base-import-paths -f $(IMAGES_IN) > $(IMAGES_OUT).tmp
	mv $(IMAGES_OUT).tmp $(IMAGES_OUT)

## bench: the load benchmark against the local server (real Redis and
## PostgreSQL on loopback) and the floor (the acquire script via go-redis),
## then the sustained phase (cycles with the cleanup at its production
## interval; fails when the ledger drain has under 3x the peak acquire rate
## per PostgreSQL CPU-second); prints tables and RESULT lines. Figures go in
## BENCHMARKS.md.
bench: bin/devserver bin/bench
	./bin/bench -server bin/devserver $(BENCH_FLAGS)

## bench-scale: acquire latency with 1,000,000 live sessions against 1,000,
## Redis memory per session, and two sweeps of 100,000 expired sessions; it
## fails when a Redis command of a sweep takes 5 ms (judged here, not in
## make test).
bench-scale: bin/devserver bin/bench
	./bin/bench -server bin/devserver -scale $(BENCH_FLAGS)

bin/devserver: FORCE
	$(GO) build -o bin/devserver ./functions/cmd/devserver
bin/bench: FORCE
	cd functions/cmd/bench && $(GO) build -o ../../../bin/bench .
.PHONY: FORCE
FORCE:
