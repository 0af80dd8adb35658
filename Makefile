# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go
GO_DIRS := functions shared lua schema

.PHONY: run test check migrate build

## run: every function on one local server (embedded Redis and throwaway
## PostgreSQL unless REDIS_URL / DATABASE_URL are set).
run:
	$(GO) run ./functions/cmd/devserver

## test: formatting, vet, then the whole suite with the race detector against
## real Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432).
test: check
	$(GO) test -race -count=1 -timeout 20m ./...

## check: gofmt and go vet.
check:
	@out=$$(gofmt -l $(GO_DIRS)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## migrate: apply the schema migrations to DATABASE_URL.
migrate:
	$(GO) run ./functions/cmd/migrate

## build: the production entry point (FUNCTION_TARGET picks the function).
build:
	$(GO) build -o bin/function ./functions/cmd/function
