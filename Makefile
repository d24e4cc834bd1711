# kmipd — see README.md. Every target works from a clean clone.
SHELL     := /bin/bash
GO        ?= go
DATA      ?= data
BENCHTIME ?= 1s
FUZZTIME  ?= 30s
STATICCHECK_VERSION ?= v0.8.2
CHAOS_TESTS ?= ^(TestChaos|TestDurability|TestServe_FullDisk|TestServe_MegabyteNameRefused|TestAuditCutTail|TestAuditRefusalFlood|TestFsyncBeforeEveryAck)

export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build run test test-unit test-race check-generated conformance pykmip-suite conformance-etcd pykmip-suite-etcd chaos bench fuzz lint clean

all: build

build:
	$(GO) build -o bin/kmipd ./cmd/kmipd
	$(GO) build -o bin/kmipctl ./cmd/kmipctl

# run: a development server on embedded defaults (bbolt file, software key
# backend, generated dev PKI) in ./$(DATA), listening on 127.0.0.1:5696, with
# /metrics, /healthz and /readyz on $(ADMIN_ADDR) (loopback only; if the port
# is taken, make run ADMIN_ADDR=127.0.0.1:9697). It prints a kmipctl command
# line for the dev PKI.
ADMIN_ADDR ?= 127.0.0.1:9696
run: build
	@test -f $(DATA)/kmipd.yaml || bin/kmipd init --dir $(DATA)
	bin/kmipd serve --dir $(DATA) --admin-addr $(ADMIN_ADDR)

# test: everything CI runs. The unit tests run last so that their summary
# closes the output; they also run under the race detector, which skips the
# allocation guards and benchmark ratios (they measure the detector).
test: lint check-generated conformance pykmip-suite conformance-etcd pykmip-suite-etcd test-race test-unit

test-unit:
	$(GO) test -count=1 ./...

test-race:
	$(GO) test -race -count=1 ./...

check-generated:
	$(GO) generate ./...
	@git diff --exit-code -- $$(grep -rl --include='*.go' '^// Code generated' .) || { echo "generated files are stale: run 'go generate ./...' and commit"; exit 1; }

# conformance: replay the OASIS test cases against a fresh kmipd, write
# conformance/REPORT.md, fail if a claimed file regressed.
conformance: build
	conformance/run.sh

# pykmip-suite: PyKMIP's own integration suite (../shared/pykmip-suite, or
# $PYKMIP_SUITE) at KMIP 1.2, 1.4 and 2.0 against a fresh kmipd on its
# defaults; adds its section to conformance/REPORT.md and fails on a failure
# conformance/pykmip-exceptions.txt does not explain.
pykmip-suite: build
	conformance/pykmip-suite.sh

# conformance-etcd, pykmip-suite-etcd: the same two, against two kmipd nodes
# on a real 3-member etcd cluster (conformance/etcd-cluster.sh; etcd from
# $ETCD_BIN or PATH), reporting to conformance/REPORT-etcd.md.
conformance-etcd: build
	KMIPD_TEST_STORE=etcd conformance/run.sh

pykmip-suite-etcd: build
	KMIPD_TEST_STORE=etcd conformance/pykmip-suite.sh

# chaos: the robustness suite at a large scale (make test runs it small):
# handshake flood, slowloris, connection hoarding, HTTP header flood,
# malformed frames, kill -9 during concurrent Creates, a full disk and audit
# truncation, each against a real kmipd, printing its figures ("chaos:").
chaos: build
	@set -o pipefail; KMIPD_CHAOS_SCALE=large $(GO) test -count=1 -v -timeout 30m \
	  -run '$(CHAOS_TESTS)' ./cmd/kmipd/ 2>&1 | tee chaos.log | grep -E '_test\.go:[0-9]+: |^(--- |ok|FAIL|PASS)' | grep -v 'stderr of kmipd'

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./ttlv/ ./kmip/... ./internal/audit/

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./ttlv/
	$(GO) test -run '^$$' -fuzz '^FuzzServe$$' -fuzztime $(FUZZTIME) ./lifecycle/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

clean:
	rm -rf bin chaos.log
