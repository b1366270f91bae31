# s3vol: build, run, test, benchmark and package the plugin.
#
#   make run     build and run the plugin (built-in local store unless S3VOL_ENDPOINT is set)
#   make install copy bin/s3vol to $(PREFIX)/bin (default /usr/local/bin), for the s3vol commands
#   make test    gofmt + go vet + every test, with the race detector
#   make bench   the filesystem side by side with the raw store (BENCH_FLAGS=-quick for a smoke run)
#   make plugin  build the managed Docker plugin without any registry
#   make soak    the chaos soak: random file operations on a mount under injected
#                faults and kills (SOAK_SEED=N replays a run, SOAK_DURATION=10m)
#   make posix   pjdfstest, the POSIX suite, on the local store and on MinIO

GO       ?= go
BIN      := bin/s3vol
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
TESTTIMEOUT ?= 45m
PREFIX   ?= /usr/local

.PHONY: all build install run test fmt-check vet unit minio bench bench-quick soak posix plugin plugin-enable clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./plugin

# Puts s3vol on the PATH: the README's s3vol commands (volume, org, mount,
# repair) and a daemon started by hand or by a service manager.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/s3vol

# Runs the daemon in the foreground as a legacy plugin on
# /run/docker/plugins/s3vol.sock (needs root for FUSE). Settings come from
# S3VOL_* environment variables; see README.md. The dashboard, metrics and
# health are served on loopback, http://127.0.0.1:9180/, /metrics and
# /healthz (S3VOL_HTTP_ADDR= make run turns them off; the dashboard is
# read-only unless S3VOL_HTTP_TOKEN is set).
S3VOL_HTTP_ADDR ?= 127.0.0.1:9180
run: build
	S3VOL_HTTP_ADDR='$(S3VOL_HTTP_ADDR)' ./$(BIN) serve

test: fmt-check vet
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) ./...

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed on:"; echo "$$bad"; exit 1; fi

vet:
	$(GO) vet ./...

# Builds the MinIO server the tests and benchmarks run against (once; cached
# under $${S3VOL_CACHE:-~/.cache/s3vol}).
minio:
	$(GO) run ./internal/miniotest/cmd/minio-build

bench:
	$(GO) run ./bench $(BENCH_FLAGS)

bench-quick:
	$(GO) run ./bench -quick

# The chaos soak (root and /dev/fuse needed; not part of `make test`): random
# file operations through a FUSE mount, checked against a model, while a
# fault store fails SOAK_RATE of the store calls and the mount process is
# killed once in every SOAK_KILL_EVERY (at a random moment of it). It prints its seed; SOAK_SEED replays.
SOAK_SEED       ?= 0
SOAK_DURATION   ?= 3m
SOAK_RATE       ?= 0.02
SOAK_KILL_EVERY ?= 1m
SOAK_FLAGS      ?=
soak:
	$(GO) run ./soak -seed $(SOAK_SEED) -duration $(SOAK_DURATION) -rate $(SOAK_RATE) -kill-every $(SOAK_KILL_EVERY) $(SOAK_FLAGS)

# pjdfstest (vendored in third_party/pjdfstest, built once into the cache
# with cc) on a mount over the local store and over MinIO: passed and
# failed tests per syscall group. It fails on any failure not listed, with
# its reason, in posix/allowed.txt. Root, FUSE and gcc needed; about five
# minutes per store, so not part of `make test`. POSIX_FLAGS="-stores
# local -groups chmod,rename" narrows it.
POSIX_FLAGS ?=
posix:
	$(GO) run ./posix $(POSIX_FLAGS)

clean:
	rm -rf bin dist

# ---- Managed plugin ---------------------------------------------------------
# `make plugin` needs no registry: the rootfs is the static binary plus the few
# files and mount points a plugin container needs, assembled here. The
# Dockerfile builds the same rootfs for those who build images with a registry.
# Both targets talk to the engine DOCKER_HOST names.
PLUGIN_NAME ?= s3vol
PLUGIN_DIR  ?= dist/plugin
# Every S3VOL_* variable in make's environment or command line is passed to
# `docker plugin set` (an empty value resets a setting to its default).
PLUGIN_ENV  = $(foreach v,$(filter S3VOL_%,$(.VARIABLES)),'$(v)=$($(v))')
# Mount points the engine binds into the plugin, and the files runc binds over
# (host networking brings the host's /etc/hosts and /etc/resolv.conf).
PLUGIN_DIRS := bin etc/ssl/certs etc/s3vol run/docker/plugins mnt/volumes var/lib/s3vol tmp dev proc sys

# A previous build of the same name is replaced only when it is disabled:
# removing an enabled plugin would cut off the containers using its volumes.
# Volumes survive the replacement (they live in the store; dockerd keeps their
# names and finds the new plugin by name).
plugin: build
	@if [ "$$(docker plugin inspect --format '{{.Enabled}}' $(PLUGIN_NAME) 2>/dev/null)" = true ]; then \
	  echo "plugin $(PLUGIN_NAME) is enabled; run 'docker plugin disable -f $(PLUGIN_NAME)' first" >&2; exit 1; fi
	rm -rf $(PLUGIN_DIR)
	mkdir -p $(addprefix $(PLUGIN_DIR)/rootfs/,$(PLUGIN_DIRS))
	chmod 1777 $(PLUGIN_DIR)/rootfs/tmp
	touch $(PLUGIN_DIR)/rootfs/etc/hosts $(PLUGIN_DIR)/rootfs/etc/hostname $(PLUGIN_DIR)/rootfs/etc/resolv.conf
	cp $(BIN) $(PLUGIN_DIR)/rootfs/bin/s3vol
	if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt $(PLUGIN_DIR)/rootfs/etc/ssl/certs/; fi
	cp config.json $(PLUGIN_DIR)/config.json
	if docker plugin inspect $(PLUGIN_NAME) >/dev/null 2>&1; then docker plugin rm -f $(PLUGIN_NAME); fi
	docker plugin create $(PLUGIN_NAME) $(PLUGIN_DIR)

# Sets the S3VOL_* variables given to make, creates the host folders the
# plugin's mounts name (the engine refuses to start it without them; the
# secrets folder readable by root only), then enables the plugin, e.g.
#   make plugin-enable S3VOL_ENDPOINT=https://s3.eu-west-1.amazonaws.com S3VOL_BUCKET=vols
# Set the folders first with docker plugin set NAME state.source=DIR secrets.source=DIR.
plugin-enable:
	$(if $(strip $(PLUGIN_ENV)),docker plugin set $(PLUGIN_NAME) $(PLUGIN_ENV))
	docker plugin inspect --format '{{range .Settings.Mounts}}{{.Name}} {{.Source}}{{"\n"}}{{end}}' $(PLUGIN_NAME) | \
	while read -r name src; do \
	  if [ "$$name" = secrets ]; then mode=700; else mode=755; fi; \
	  if [ -n "$$src" ] && [ ! -d "$$src" ]; then echo "creating $$src"; mkdir -p -m $$mode "$$src" || exit 1; fi; \
	done
	docker plugin enable $(PLUGIN_NAME)
