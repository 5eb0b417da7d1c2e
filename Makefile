# `make demo`: train a tiny CLIP on the synthetic scenes benchmark and print its results.
# `make test`: lint and run the whole test suite.  Both create .venv and install on first use.

PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: demo test lint install clean

$(VENV_STAMP): setup.py pyproject.toml Makefile
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# Reference implementations for the parity tests only (jclip never imports them):
	# a CPU PyTorch for transformers' models, CLIP_benchmark's metric code without its deps.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps clip-benchmark==1.6.2
	# Attack references: foolbox runs jclip's JAX models natively; torchattacks on PyTorch CLIP.
	$(PY) -m pip install -q foolbox==3.3.4
	$(PY) -m pip install -q --no-deps torchattacks==3.5.1
	touch $(VENV_STAMP)

install: $(VENV_STAMP)

lint: $(VENV_STAMP)
	$(PY) -m ruff check jclip kernels experiments tests

test: $(VENV_STAMP) lint
	$(PY) -m pytest -n 2 --dist loadgroup -q tests

demo: $(VENV_STAMP)
	$(PY) -m experiments.demo --workdir results/demo

clean:
	rm -rf .venv results
