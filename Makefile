# stepstream: common tasks. `make help` lists them.
CARGO ?= cargo
EXAMPLE := config/examples/order

.PHONY: help demo run build test test-long check conformance jsonata-suite bench bench-kafka golden fmt clippy broker-start broker-stop broker-durable fuzz soak

FUZZ_SECONDS ?= 600
SOAK_MINUTES ?= 30

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: ## start the local broker, run the daemon on the example workflow, send events, show results
	scripts/demo.sh

build: ## build the release binary
	$(CARGO) build --release

run: build ## run the example order workflow locally with mocked tasks (waits sped up 100x)
	./target/release/stepstream exec $(EXAMPLE).asl.json --input-file $(EXAMPLE).input.json \
		--mock-config $(EXAMPLE).mock.json --test-case BusyThenOk --time-scale 0.01

test: check broker-start ## formatting, lints and the whole test suite, Kafka tests against the local broker (what CI runs)
	eval "$$(scripts/kafka-broker.sh env)" && STEPSTREAM_REQUIRE_BROKER=1 $(CARGO) test --release --all-targets

test-long: broker-start broker-durable ## the long checks CI skips: ten SIGKILLs of the daemon, six broker restarts, 30 s of fuzzing per target
	eval "$$(scripts/kafka-broker.sh env)" && STEPSTREAM_REQUIRE_BROKER=1 STEPSTREAM_CRASH_KILLS=10 \
		$(CARGO) test --release --test tests kafka::a_daemon_killed -- --nocapture
	STEPSTREAM_REQUIRE_DURABLE_BROKER=1 STEPSTREAM_BROKER_RESTARTS=6 \
		$(CARGO) test --release --test tests kafka::a_broker_restarted -- --nocapture
	scripts/fuzz.sh 30

fuzz: ## fuzz each target (ASL, JSON, JSONPath, intrinsics, JSONata) for FUZZ_SECONDS (600); needs nightly and cargo-fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

soak: broker-start ## the Kafka stage at half its top rate for SOAK_MINUTES (30): latency and memory per minute
	scripts/soak.sh $(SOAK_MINUTES)

check: fmt clippy

fmt: ## check formatting
	$(CARGO) fmt --all -- --check

clippy: ## lints, warnings are errors
	$(CARGO) clippy --release --all-targets -- -D warnings

conformance: ## the AWS-recorded conformance cases, with pass rates by feature, and test-state on their histories
	CONFORMANCE_REPORT=1 $(CARGO) test --release --test tests -- conformance teststate --nocapture

jsonata-suite: ## the JSONata reference test suite against the JSONata engine, with pass rates by group
	JSONATA_SUITE_VERBOSE=1 $(CARGO) test --release --test jsonata_suite -- --nocapture

golden: ## regenerate the golden bytecode dumps after an intended compiler change
	UPDATE_GOLDEN=1 $(CARGO) test --release --test tests golden

bench: ## criterion benchmarks of the engine on the shared workloads, and of the JSON parser and printer
	$(CARGO) bench --bench engine
	$(CARGO) bench --bench json

bench-kafka: build broker-start ## stepstream bench: W1 through the local broker, a million events, beside the no-op pipe
	eval "$$(scripts/kafka-broker.sh env)" && ./target/release/stepstream bench \
		tests/data/workloads/w1-pass-chain.json --events 1000000 --time-scale 0

broker-start: ## start the local Kafka-compatible test broker (tansu, memory storage, 127.0.0.1:9092)
	scripts/kafka-broker.sh start

broker-durable: ## build the durable broker (nisshi, sqlite) for the broker-restart test, once (~15 min)
	scripts/kafka-broker.sh install-durable

broker-stop: ## stop the local test broker (its topics and data are lost)
	scripts/kafka-broker.sh stop
