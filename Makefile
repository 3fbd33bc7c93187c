# Lockstep — the two commands of the README's quick start are `make run` and
# `make test`. Both install what they need first (scripts/setup.sh is
# idempotent).

GO      ?= go
RACE_PKGS := ./actors/... ./mailbox/... ./host/... ./clock/... ./wasmagent ./modelactor ./sdk/agenttest/... ./cmd/agentui
# Fuzz budgets are counts, not durations: with a duration, Go 1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" when the time
# runs out (golang/go#75804, fixed in Go 1.27). 200000 inputs take 4-13 s per
# target on the 2-core dev machine.
FUZZTIME  ?= 200000x
# Where scripts/onnxruntime.sh puts ONNX Runtime; tests that need it read this.
export LOCKSTEP_ORT_LIB ?= $(HOME)/.cache/lockstep/onnxruntime/libonnxruntime.so.1
# Where scripts/models.sh puts third-party models.
export LOCKSTEP_MODELS_DIR ?= $(HOME)/.cache/lockstep/models
# Tests of guest SDKs fail, rather than skip, when their toolchain is missing.
export LOCKSTEP_REQUIRE_GUESTS ?= 1

.PHONY: setup run test lint unit race fuzz xplat bench proto screenshots scale

setup:
	@scripts/setup.sh

## run: build the guest agents and agenthost, run the embedded default topology (WebAssembly agents), record a replay log and verify it; then the same for examples/classify (WebAssembly agents classifying through the model manager); then agenthost serve on examples/serve, driven by input, step and subscribe, stopped, resumed and verified (scripts/serve-demo.sh). verify trusts nothing in a log: it is told where the modules and models are (--module-dir) and that the unsigned example modules may run (--allow-unsigned)
run: setup
	scripts/guests.sh bin/wasm
	$(GO) build -o bin/agenthost ./cmd/agenthost
	bin/agenthost run --record bin/default.replay
	bin/agenthost verify --module-dir bin/wasm --allow-unsigned bin/default.replay
	bin/agenthost run --topology examples/classify/topology.yaml --record bin/classify.replay
	bin/agenthost verify --module-dir bin/wasm --module-dir examples/classify --allow-unsigned bin/classify.replay
	scripts/serve-demo.sh

## test: every check CI makes
test: setup lint unit race fuzz xplat

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) vet ./modelactor/...

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -race -short -count=1 $(RACE_PKGS)

# FuzzReplayHeader starts a host (an actor system) for every config that
# validates, a few milliseconds each: 200000 inputs took about four times as
# long as FuzzInspect's, so it gets a quarter of the budget.
FUZZTIME_REPLAYHEADER ?= 50000x

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./host/replaylog
	$(GO) test -run '^$$' -fuzz '^FuzzParseTopology$$' -fuzztime $(FUZZTIME) ./host
	$(GO) test -run '^$$' -fuzz '^FuzzReplayHeader$$' -fuzztime $(FUZZTIME_REPLAYHEADER) ./host
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./wasmagent/plugin
	$(GO) test -run '^$$' -fuzz '^FuzzInspect$$' -fuzztime $(FUZZTIME) ./wasmagent/plugin
	$(GO) test -run '^$$' -fuzz '^FuzzLoadKey$$' -fuzztime $(FUZZTIME) ./wasmagent/plugin
	$(GO) test -run '^$$' -fuzz '^FuzzVersionRequirement$$' -fuzztime $(FUZZTIME) ./wasmagent/plugin
	$(GO) test -run '^$$' -fuzz '^FuzzRewrite$$' -fuzztime $(FUZZTIME) ./wasmagent/meter
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./modelactor/tensor
	$(GO) test -run '^$$' -fuzz '^FuzzEngineRestore$$' -fuzztime $(FUZZTIME) ./internal/engine
	$(GO) test -run '^$$' -fuzz '^FuzzRestore$$' -fuzztime $(FUZZTIME) ./wasmagent
	$(GO) test -run '^$$' -fuzz '^FuzzReadReports$$' -fuzztime $(FUZZTIME) ./internal/wire

## xplat: the cross-platform determinism check (internal/xplat): builds agenthost for linux/amd64 (cgo), linux/arm64, linux/riscv64, windows/amd64 (CGO_ENABLED=0) and, build only, darwin/amd64 and darwin/arm64; runs the default topology, examples/xplat's and examples/classify natively on both wazero engines, under qemu-user and under wine; compares every tick's digest with the native compiler run's and verifies logs across platforms. Prints a platform x topology table; exits 1 on any disagreement. 7 to 9 minutes cold on the busy 2-core dev machine (empty Go build cache, new wine prefix: most of it is building agenthost for five more platforms), 2 warm; the output of every command is kept in bin/xplat/out
xplat: setup
	$(GO) run ./internal/xplat

## bench: the benchmark table (ratios against protoactor baselines measured in the same run)
bench: setup
	$(GO) run ./cmd/lockstep-bench

## proto: regenerate the replay log's, the daemon API's and the federation's protobuf code
proto:
	$(GO) generate ./host/replaylog ./host/daemon/api ./host/federation/fedpb

## screenshots: docs/ui/*.png, every agentui view at 50 and 10 000 agents, photographed in headless Chromium (builds agenthost, agentui and the example guests; 2-3 minutes)
screenshots: setup
	$(GO) run ./cmd/agentui/screenshots

## scale: TestWASMScale at full size: 100 000 C agents (examples/wasm/counter.c) with 1 and 2 workers, every tick's digest compared (about 2 minutes and 5 GB of memory on 2 cores; make test runs it with 10 000, and 1 000 under the race detector)
scale: setup
	$(GO) test ./host -run 'TestWASMScale$$' -count=1 -timeout 30m -wasm-scale-agents 100000
