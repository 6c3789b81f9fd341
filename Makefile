# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Both create .venv on first use and install into it: torch first (the CPU build, pinned), then the project
# with constraints.txt so pip's resolver stays on the tested stack.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export FLWR_TELEMETRY_ENABLED := 0
export RAY_USAGE_STATS_ENABLED := 0
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast bench lint clean edge-wheel

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/shopmesh demo

# --durations lists the slowest tests at the end of the run, so the suite's time stays in view
test: install
	$(BIN)/pytest --durations=25 $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -m "not integration and not slow" $(PYTEST_ARGS)

bench: install
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The device SDK alone (shopmesh-edge), built from a copy of edge/runtime so that no build output lands in the tree.
edge-wheel: install
	src=$$(mktemp -d) && cp -r edge/runtime "$$src/shopmesh-edge" && rm -rf "$$src/shopmesh-edge/__pycache__" && \
	  $(BIN)/pip wheel --quiet --no-deps --no-build-isolation "$$src/shopmesh-edge" -w dist; \
	  status=$$?; rm -rf "$$src"; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf .shopmesh .pytest_cache .mypy_cache .ruff_cache
