# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go
GO_DIRS := functions shared lua schema sdk knative terraform
# The deployment checks live in their own Go modules, so the main module does
# not carry Knative's or HCL's dependencies.
DEPLOY_MODULES := knative terraform
KO ?= $(GO) run github.com/google/ko@v0.19.1

.PHONY: run test check migrate build images bench bench-scale

## run: every function on one local server (embedded Redis and throwaway
## PostgreSQL unless REDIS_URL / DATABASE_URL are set).
run:
	$(GO) run ./functions/cmd/devserver

## test: formatting, vet, then the whole suite with the race detector against
## real Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432).
test: check
	$(GO) test -race -count=1 -timeout 20m ./...
	for m in $(DEPLOY_MODULES); do (cd $$m && $(GO) test -count=1 ./...) || exit 1; done

## check: gofmt, go vet (every module) and terraform fmt (when terraform is
## installed; the terraform module's test checks HCL formatting either way).
check:
	@out=$$(gofmt -l $(GO_DIRS)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	for m in $(DEPLOY_MODULES) functions/cmd/bench; do (cd $$m && $(GO) vet ./...) || exit 1; done
	@if command -v terraform >/dev/null; then TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive terraform; fi

## migrate: apply the schema migrations to DATABASE_URL.
migrate:
	$(GO) run ./functions/cmd/migrate

## build: the production entry point (FUNCTION_TARGET picks the function).
build:
	$(GO) build -o bin/function ./functions/cmd/function

## images: build the function image with ko, push it to KO_DOCKER_REPO, and
## write the Knative services, pinned to the image's digest, to
## bin/knative-services.yaml (apply it after replacing PROJECT_ID).
images:
	@test -n "$(KO_DOCKER_REPO)" || { echo "KO_DOCKER_REPO is required, e.g. europe-west1-docker.pkg.dev/PROJECT/license-server"; exit 1; }
	@mkdir -p bin
	KO_CONFIG_PATH=knative/ KO_DOCKER_REPO=$(KO_DOCKER_REPO) $(KO) resolve --base-import-paths -f knative/services/ > bin/knative-services.yaml

## bench: the load benchmark against the local server (real Redis and
## PostgreSQL on loopback) and the floor (the acquire script via go-redis);
## prints a table and a RESULT line. Figures go in BENCHMARKS.md.
bench: bin/devserver bin/bench
	./bin/bench -server bin/devserver $(BENCH_FLAGS)

## bench-scale: acquire latency with 1,000,000 live sessions against 1,000,
## Redis memory per session, and the sweep of 100,000 expired sessions.
bench-scale: bin/devserver bin/bench
	./bin/bench -server bin/devserver -scale $(BENCH_FLAGS)

bin/devserver: FORCE
	$(GO) build -o bin/devserver ./functions/cmd/devserver
bin/bench: FORCE
	cd functions/cmd/bench && $(GO) build -o ../../../bin/bench .
.PHONY: FORCE
FORCE:
