# Two commands do all the set-up on a fresh machine:
#   make search   -- create .venv, install, run the default search on digits
#   make test     -- create .venv, install, run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU machines get PyTorch's CPU build; machines with an NVIDIA driver get the default (CUDA) build.
TORCH_CPU ?= torch==2.13.0
TORCH_GPU ?= torch>=2.2,<3

.PHONY: setup browser search test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install -q "$(TORCH_GPU)"; else $(PY) -m pip install -q "$(TORCH_CPU)"; fi
	$(PY) -m pip install -q -e ".[dev,ray,optuna,onnx]"
	touch $@

search: setup
	$(VENV)/bin/nas4cnn search $(ARGS)

# The report's browser test needs Chromium: installed here where apt-get can (as root), else that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "note: Chromium is not installed; the report's browser test will be skipped"

test: setup browser
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q $(ARGS)

bench: setup
	$(PY) benchmarks/bench_engine.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
