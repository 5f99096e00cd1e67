# Two commands do all the set-up on a fresh machine:
#   make search     -- create .venv with what a search needs, run the default search on digits
#   make test       -- add what the tests need (pytest, Selenium, Ray, Optuna, ONNX), run the whole suite
#   make test-fast  -- the same set-up, the tests not marked slow
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU machines get PyTorch's CPU build; machines with an NVIDIA driver get the default (CUDA) build.
TORCH_CPU ?= torch==2.13.0
TORCH_GPU ?= torch>=2.2,<3

.PHONY: setup setup-test browser search test test-fast bench clean

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

# The base package and PyTorch: everything `nas4cnn search` (and the other commands) use by default.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install -q "$(TORCH_GPU)"; else $(PY) -m pip install -q "$(TORCH_CPU)"; fi
	$(PY) -m pip install -q -e .
	touch $@

# On top of the base: the test tools and the optional executors, strategies and exporters the tests run.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev,ray,optuna,onnx]"
	touch $@

search: setup
	$(VENV)/bin/nas4cnn search $(ARGS)

# The report's browser test needs Chromium: installed here where apt-get can (as root), else that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "note: Chromium is not installed; the report's browser test will be skipped"

test: setup-test browser
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q --durations=15 $(ARGS)

test-fast: setup-test browser
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q -m "not slow" $(ARGS)

bench: setup
	$(PY) benchmarks/bench_engine.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
