# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The demo's study lives in its own embedded storage file, so reruns start fresh.
DEMO_STORAGE ?= demo-studies.journal
# Where its trials keep their models and images: beside the storage file (hpsearch's default).
DEMO_ARTIFACTS := $(basename $(DEMO_STORAGE))-artifacts
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv demo test test-heavy test-fast test-deps reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	rm -rf $(DEMO_STORAGE) $(DEMO_STORAGE).lock* $(DEMO_ARTIFACTS)
	$(BIN)/hpsearch --storage $(DEMO_STORAGE) launch demo --dataset digits --space small \
	    --trials 12 --epochs 8 --human-error 0.005 --workers 2
	$(BIN)/hpsearch --storage $(DEMO_STORAGE) status demo
	$(BIN)/hpsearch --storage $(DEMO_STORAGE) export demo -o demo-best.yaml --model demo-best.keras
	$(BIN)/hpsearch --storage $(DEMO_STORAGE) report demo
	@echo
	@echo "Best configuration written to demo-best.yaml, its trained model to demo-best.keras. Next:"
	@echo "  $(BIN)/hpsearch train demo-best.yaml --save model.keras    # retrain it, no database needed"
	@echo "  $(BIN)/hpsearch --storage $(DEMO_STORAGE) dashboard          # then open http://127.0.0.1:8080"

# What the tests need beyond Python packages: PostgreSQL server binaries (the tests start their
# own throwaway cluster), Chromium for the page test, and Debian's Fashion-MNIST (real data,
# offline: the four files keras.datasets downloads). Installed only when missing.
FASHION_MNIST := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
test-deps:
	@test -f $(FASHION_MNIST) || \
	    { echo "installing Fashion-MNIST (dataset-fashion-mnist)"; apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	    { echo "installing PostgreSQL server binaries"; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || \
	    { echo "installing Chromium (the dashboard page test)"; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# `make test` stays under 20 minutes on 2 cores by leaving out the tests marked heavy: each takes
# minutes of CPU and has a lighter sibling that `make test` runs (docs/development.md lists them).
# `.ci/run` runs them after `make test`, so nothing goes untested before a change lands.
test: venv test-deps
	$(BIN)/python -m pytest tests -m "not heavy"

test-heavy: venv test-deps
	$(BIN)/python -m pytest tests -m heavy

# The fault and bad-input table in docs/reliability.md, measured anew. The page is written even when
# a test fails (that test is listed as failed, its rows left out); the target still fails then.
reliability: venv test-deps
	$(BIN)/python -m pytest tests/reliability_tests -q; status=$$?; \
	    $(BIN)/python -m tests.reliability_tests.render && exit $$status

test-fast: venv
	$(BIN)/python -m pytest tests -m "not slow"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache $(DEMO_STORAGE) $(DEMO_STORAGE).lock* demo-best.yaml $(DEMO_ARTIFACTS) demo-best.keras

# Benchmarks against hpsearch's peers (not part of `make test`): benchmarks/results/*.json and
# BENCHMARKS.md. Benchmarks 2-6 take about 35 minutes on 2 cores; benchmarks 1 and 7 (search
# efficiency, zoom and confirm on Fashion-MNIST) and the 1b seed lab take many hours there: 1 and 7
# save each run as it finishes, and the next `make bench` goes on from the runs saved.
# bench-quick: a smoke test of every benchmark, BENCHMARKS-quick.md.
.PHONY: bench bench-quick bench-deps
BENCH_STAMP := $(VENV)/.bench-installed-stamp

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

# PostgreSQL server binaries for the coordination benchmark's throwaway cluster, only when missing.
bench-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	    { echo "installing PostgreSQL server binaries"; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }

bench: $(BENCH_STAMP) bench-deps
	HPSEARCH_BENCH_COMMAND="make bench" $(BIN)/python -m benchmarks.run

bench-quick: $(BENCH_STAMP) bench-deps
	HPSEARCH_BENCH_COMMAND="make bench-quick" $(BIN)/python -m benchmarks.run --quick

# The image built and `docker compose` run for real (tests/container_tests), on a private dockerd
# that the tests start and stop. Root only. Docker Hub is out of reach on our machines, so the
# base images are test-only stand-ins built from Debian packages (docs/containers.md). Layers and
# stand-ins are cached in ~/.cache/hpsearch-ci (HPSEARCH_CI_CACHE), so a second run is faster.
.PHONY: test-containers container-deps
container-deps:
	@command -v dockerd >/dev/null 2>&1 || test -x /usr/sbin/dockerd || \
	    { echo "installing Docker Engine (docker.io)"; apt-get update -qq && apt-get install -y -qq docker.io >/dev/null; }
	@command -v debootstrap >/dev/null 2>&1 || test -x /usr/sbin/debootstrap || \
	    { echo "installing debootstrap"; apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

test-containers: venv container-deps
	HPSEARCH_CONTAINER_TESTS=1 $(BIN)/python -m pytest tests/container_tests -v --timeout 1800
