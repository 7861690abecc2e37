# Two entry points: `make demo` (set up, then run the main job) and `make test` (set up, then the tests).
#
# Set-up options (make VAR=value, or the environment):
#   PY     the Python (>= 3.10) that creates .venv; default python3.11 where there is one, else python3.
#   TORCH  which build of the torch release pinned in constraints.txt:
#            default  whatever pip resolves with this machine's pip configuration; plain PyPI gives the
#                     CUDA build on Linux x86_64 (several GB of CUDA libraries; it also runs without a GPU);
#            cpu      the CPU-only build from PyTorch's CPU wheel index (TORCH_CPU_INDEX), a fraction of the size.
#          To switch an existing .venv to the other build: make clean && make setup TORCH=...
PY ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
TORCH ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN := $(shell sed -n 's/^torch==\([0-9][0-9a-zA-Z.]*\).*/\1/p' constraints.txt)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed$(if $(filter cpu,$(TORCH)),-cpu)

ifeq ($(filter $(TORCH),default cpu),)
$(error TORCH=$(TORCH) is not a torch build this Makefile installs; valid: TORCH=default (what pip resolves for torch==$(TORCH_PIN)) or TORCH=cpu (the CPU-only build from $(TORCH_CPU_INDEX)))
endif
ifeq ($(TORCH_PIN),)
$(error constraints.txt must pin torch to one release, as torch==2.13.0)
endif

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || { $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "caasl needs Python >= 3.10, but PY=$(PY) is " + sys.version.split()[0] + "; choose another with make PY=python3.X")' && $(PY) -m venv $(VENV); }
ifeq ($(TORCH),cpu)
	$(BIN)/pip install -q --index-url $(TORCH_CPU_INDEX) 'torch==$(TORCH_PIN)+cpu'
endif
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,tune]'
	$(BIN)/python scripts/check_torch.py --build $(TORCH) --constraints constraints.txt
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
