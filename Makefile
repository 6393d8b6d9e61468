# kubectl-acknet: build, test, lint and the local demo cluster.
#
#   make demo   start a local cluster that looks like a broken ACK cluster and run doctor on it
#               (make demo DEMO_NODE=real: two real Flannel nodes for the node commands; root)
#   make test   unit tests, fixture conformance, short fuzzing, and the end-to-end tests
#               against a real kube-apiserver (builds the pinned rig binaries on first use)

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/kubectl-acknet/kubectl-acknet/internal/plugin
LDFLAGS := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)

TOOLS            := $(CURDIR)/.cache/tools
GOLANGCI_VERSION := v2.15.0
GOLANGCI         := $(TOOLS)/golangci-lint
GORELEASER_VERSION := v2.15.1
GORELEASER       := $(TOOLS)/goreleaser
KREW_VERSION     := v0.4.3
# A count, not a duration: a duration-bounded run can fail with a bare
# "context deadline exceeded" when its workers miss the coordinator's
# deadline on a loaded 2-core machine (a race in Go's fuzzing coordinator,
# no crasher written). A count has no deadline to race.
FUZZTIME         ?= 30000x
FUZZ_TARGETS     := ackconf:FuzzParseENIConfig ackconf:FuzzParseFlannelCNI ackconf:FuzzParseKubeProxyConfig \
                    ackconf:FuzzCorefileClusterDomains ackconf:FuzzImageVersion confedit:FuzzJSONSet confedit:FuzzSetYAML confedit:FuzzSetYAMLBlock
DEMO_SCENARIO    ?= flannel-broken
DEMO_NODE        ?=
DEMO_CLOUD_SCENARIO ?= cloud-terway

.PHONY: readme verify-readme bench docs verify-docs dist krew-e2e all build test test-unit test-fuzz test-e2e rig rig-up rig-down demo demo-cloud demo-down fmt vet lint shellcheck verify clean

all: build

build: ## Build bin/kubectl-acknet with the version stamped
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/kubectl-acknet ./cmd/kubectl-acknet

test: test-unit test-fuzz test-e2e ## Everything CI runs as tests

test-unit: ## Unit tests and, with ACKNET_FIXTURES set, the fixture conformance suite
	go test -count=1 ./...
	# The cloud reads run calls in parallel through an SDK that is not
	# safe for concurrent use on its own: under the race detector.
	go test -count=1 -race ./internal/cloud/...

test-fuzz: ## Each parser's and editor's fuzz target, briefly
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t ($(FUZZTIME))"; \
		go test ./internal/$${t%%:*} -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

test-e2e: rig ## End-to-end tests of the built binary against the local cluster and its real nodes (root)
	hack/build-rig.sh --nodes
	go test -count=1 -timeout 45m -tags e2e ./test/e2e/...

rig: ## Build the pinned etcd, kube-apiserver and kubectl (cached)
	hack/build-rig.sh

rig-up: ## Start the local cluster (see hack/rig.sh)
	hack/rig.sh up

rig-down: ## Stop the local cluster
	hack/rig.sh down

ifeq ($(DEMO_NODE),real)
demo: build ## Local cluster with a broken-ACK scenario (or, with DEMO_NODE=real, two real Flannel nodes), then doctor on it
	ACKNET_RIG_NODES=2 hack/rig.sh up
	KUBECONFIG=$(CURDIR)/.cache/rig/run/default/kubeconfig bin/kubectl-acknet doctor || true
	@echo
	@echo "The demo cluster with two real nodes (kubelet, containerd, Flannel, kube-proxy) is still up:"
	@echo "  export KUBECONFIG=$(CURDIR)/.cache/rig/run/default/kubeconfig PATH=$(CURDIR)/bin:\$$PATH"
	@echo "  kubectl acknet conntrack --all-nodes"
	@echo "  kubectl acknet flannel gc --all-nodes"
	@echo "  kubectl acknet ipvs modules --all-nodes"
	@echo "Reboot node 0 the way IPs leak (containerd forgets its sandboxes, /var/lib/cni stays):"
	@echo "  hack/node.sh stop 0 && hack/node.sh wipe-runtime 0 && hack/node.sh start 0"
	@echo "Stop it with: make demo-down"
else
demo: build rig-up ## Local cluster with a broken-ACK scenario (or, with DEMO_NODE=real, two real Flannel nodes), then doctor on it
	KUBECONFIG=$(CURDIR)/.cache/rig/run/default/kubeconfig go run ./hack/scenario load test/scenarios/$(DEMO_SCENARIO)
	KUBECONFIG=$(CURDIR)/.cache/rig/run/default/kubeconfig bin/kubectl-acknet doctor || true
	@echo
	@echo "The demo cluster is still up. Point kubectl at it and explore:"
	@echo "  export KUBECONFIG=$(CURDIR)/.cache/rig/run/default/kubeconfig PATH=$(CURDIR)/bin:\$$PATH"
	@echo "  kubectl acknet doctor -o json"
	@echo "Other scenarios: ls test/scenarios; make demo DEMO_SCENARIO=terway-broken"
	@echo "Two real nodes for the node commands: make demo-down; make demo DEMO_NODE=real"
	@echo "Stop it with: make demo-down"
endif

demo-cloud: build rig-up ## The demo cluster of scenario cloud-terway with a local Alibaba Cloud API playing its VPC, then doctor --cloud
	KUBECONFIG=$(CURDIR)/.cache/rig/run/default/kubeconfig go run ./hack/scenario load test/scenarios/$(DEMO_CLOUD_SCENARIO)
	KUBECONFIG=$(CURDIR)/.cache/rig/run/default/kubeconfig go run ./hack/cloudsim -world test/scenarios/$(DEMO_CLOUD_SCENARIO)/cloud/demo.yaml -- \
		bin/kubectl-acknet doctor --cloud --cloud-endpoint {endpoint} --checks 'cloud.*' || true
	@echo
	@echo "The local API stopped with doctor; serve it for your own runs with:"
	@echo "  go run ./hack/cloudsim -world test/scenarios/$(DEMO_CLOUD_SCENARIO)/cloud/demo.yaml"
	@echo "Stop the cluster with: make demo-down"

demo-down: rig-down

bench: rig ## Doctor and node fan-out at scale against raw LISTs and kubectl (not part of test)
	hack/bench.sh

docs: ## Regenerate docs/checks.md, docs/connectivity.md and docs/commands/ from the code
	rm -rf docs/commands docs/checks docs/connectivity.md
	go run ./hack/gendocs -out docs

verify-docs: ## Fail when the generated docs are stale
	@tmp=$$(mktemp -d) && go run ./hack/gendocs -out $$tmp && \
		diff -u docs/checks.md $$tmp/checks.md && diff -u docs/connectivity.md $$tmp/connectivity.md && \
		diff -ru docs/checks $$tmp/checks && diff -ru docs/commands $$tmp/commands && rm -rf $$tmp || \
		{ echo "docs are stale: run make docs"; exit 1; }

fmt: ## Format the Go code
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...
	go vet -tags e2e ./test/e2e/...

$(GOLANGCI):
	GOBIN=$(TOOLS) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: $(GOLANGCI) ## golangci-lint, pinned
	$(GOLANGCI) run --build-tags e2e ./...

shellcheck:
	shellcheck -x hack/*.sh hack/lib/*.sh .ci/run internal/nodescripts/scripts/*.sh completion/kubectl_complete-acknet

readme: rig ## Write the README's transcripts from the binary, run against the local cluster and its real nodes (root)
	ACKNET_UPDATE_README=1 go test -count=1 -timeout 20m -tags e2e -run '^TestREADMETranscripts$$' ./test/e2e/

verify-readme: rig ## Fail when a README transcript is not what the binary prints (local cluster and real nodes; root)
	go test -count=1 -timeout 20m -tags e2e -run '^TestREADMETranscripts$$' ./test/e2e/

verify: vet lint shellcheck verify-docs verify-readme ## Formatting, go.mod tidiness, vet, lint, shellcheck, docs, README transcripts (real nodes: root)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go mod tidy -diff

$(GORELEASER):
	GOBIN=$(TOOLS) go install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

$(TOOLS)/krew $(TOOLS)/validate-krew-manifest:
	GOBIN=$(TOOLS) go install sigs.k8s.io/krew/cmd/krew@$(KREW_VERSION) sigs.k8s.io/krew/cmd/validate-krew-manifest@$(KREW_VERSION)

dist: $(GORELEASER) ## Archives for every platform in dist/ (goreleaser snapshot)
	$(GORELEASER) release --snapshot --clean

krew-e2e: dist rig $(TOOLS)/krew $(TOOLS)/validate-krew-manifest ## Validate the krew manifest and install it offline
	hack/krew-e2e.sh

clean:
	rm -rf bin dist
