# Two commands for a fresh machine: `make demo` and `make test`. Each sets itself up.
PY     ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first so a CPU machine takes the local CPU wheel; GPU users
# may override, e.g. `make TORCH=torch demo`, and keep their CUDA build.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench addon clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,blender]"
	touch $@

demo: $(STAMP)
	$(BIN)/texgan demo --out demo --force

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

addon: $(STAMP)
	$(BIN)/texgan addon build --out dist

clean:
	rm -rf demo dist build .pytest_cache
