# `make demo`: train a tiny CLIP on the synthetic scenes benchmark and print its results.
# `make test`: lint and run the whole test suite.  Both create .venv and install on first use,
# at the exact versions of constraints.txt (the environment known to pass).
# `make test-fast`: the suite without the tests marked slow, for the inner loop.
# `make test-latest`: the same suite in .venv-latest with the newest versions setup.py allows,
# to see an upgrade's breakage before it reaches everyone (or: make test CONSTRAINTS=).

VENV ?= .venv
CONSTRAINTS ?= constraints.txt
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: demo test test-fast test-latest lint install clean

$(VENV_STAMP): setup.py pyproject.toml Makefile $(CONSTRAINTS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PIP) -e ".[test]"
	# Reference implementations for the parity tests only (jclip never imports them):
	# a CPU PyTorch for transformers' models, CLIP_benchmark's metric code without its deps.
	$(PIP) torch==2.13.0
	$(PIP) --no-deps clip-benchmark==1.6.2
	# Attack references: foolbox runs jclip's JAX models natively; torchattacks on PyTorch CLIP.
	$(PIP) foolbox==3.3.4
	$(PIP) --no-deps torchattacks==3.5.1
	touch $(VENV_STAMP)

install: $(VENV_STAMP)

lint: $(VENV_STAMP)
	$(PY) -m ruff check jclip experiments tests

test: $(VENV_STAMP) lint
	$(PY) -m pytest -n 2 --dist worksteal -q --durations=15 tests

# The inner loop: everything but the tests marked slow (tests/slow_tests.txt), a few minutes.
test-fast: $(VENV_STAMP) lint
	$(PY) -m pytest -n 2 --dist worksteal -q -m "not slow" tests

test-latest:
	$(MAKE) test VENV=.venv-latest CONSTRAINTS=

demo: $(VENV_STAMP)
	$(PY) -m experiments.demo --workdir results/demo

clean:
	rm -rf .venv .venv-latest results
