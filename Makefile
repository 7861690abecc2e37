# Two entry points: `make demo` (set up, then run the main job) and `make test` (set up, then the tests).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.__version__.endswith('+cpu') or torch.cuda.is_available() else 'unexpected torch build: ' + torch.__version__)"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m benchmarks.demo

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
