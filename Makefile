# faceaug — the two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FACEAUG := $(VENV)/bin/faceaug
DEMO ?= demo-out
TORCH_PIN ?= torch==2.13.0
export NO_ALBUMENTATIONS_UPDATE := 1
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-fast bench bench-gpu clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first, pinned, so pip never resolves an open range to a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# End to end on the synthetic example data, CPU `fast` profile.
demo: install
	bash examples/demo.sh "$(FACEAUG)" "$(DEMO)"

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -ra

test-fast: install
	$(PY) -m pytest -q -ra -m "not slow"

# Performance numbers (not tests): benchmarks/results/<topic>-<device>.json (committed), then the README's table.
# bench-gpu exits 0 with a message where torch sees no CUDA GPU.
bench: install
	$(PY) -m benchmarks.run --device cpu
	$(PY) -m benchmarks.readme_table

bench-gpu: install
	$(PY) -m benchmarks.gpu_check
	$(PY) -m benchmarks.readme_table

clean:
	rm -rf $(DEMO) bench-out bench-out-gpu .pytest_cache
