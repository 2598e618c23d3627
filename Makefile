# Two commands for a fresh machine: `make demo` and `make test`. Each sets itself up.
PY     ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first so a CPU machine takes the local CPU wheel; GPU users
# may override, e.g. `make TORCH=torch demo`, and keep their CUDA build.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench addon starter-models clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,blender]"
	@# onnxruntime and onnxruntime-gpu share one import name: a CPU build already in the venv (from an
	@# older install, or pulled by another tool) would hide the CUDA provider. Keep only texgan's one.
	if [ "$$(uname)" != Darwin ] && $(BIN)/python -m pip show -q onnxruntime >/dev/null 2>&1; then \
	  echo "removing the CPU-only onnxruntime that shadows onnxruntime-gpu"; \
	  $(BIN)/python -m pip uninstall -q -y onnxruntime onnxruntime-gpu; \
	  $(BIN)/python -m pip install -q -e ".[test,blender]"; \
	fi
	touch $@

demo: $(STAMP)
	$(BIN)/texgan demo --out demo --force

# --durations: every run names its slowest tests, so the suite can be kept well under 20 minutes.
test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15 tests

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

addon: $(STAMP)
	$(BIN)/texgan addon build --out dist

# The add-on's built-in models: trained by texgan on the project's own exemplars, exported fp16.
# Bricks gets its measured lattice (--periodic-grids): straight courses with head joints (addon/models/README.md).
STARTER        ?= bricks cobbles planks moss
STARTER_MINUTES ?= 4
starter-models: $(STAMP)
	set -e; for m in $(STARTER); do \
	  case $$m in bricks) flags=--periodic-grids;; *) flags=;; esac; \
	  $(BIN)/texgan train gan_core/exemplars/$$m --out build/starter/$$m --max-minutes $(STARTER_MINUTES) --steps 1000000 $$flags $(if $(RESUME),--resume,); \
	  $(BIN)/texgan export build/starter/$$m --out addon/models/$$m.onnx --fp16 --name $$m --force; \
	  $(BIN)/texgan generate addon/models/$$m.onnx --out build/starter/$$m-thumb.png --size 128 --no-normal --force >/dev/null; \
	  cp build/starter/$$m-thumb$$(test -f build/starter/$$m-thumb_basecolor.png && echo _basecolor).png addon/models/$$m.png; \
	done

clean:
	rm -rf demo dist build .pytest_cache
