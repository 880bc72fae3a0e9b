# The two commands of the README. Each one brings .venv up to date first
# (tools/bootstrap.py: quick when nothing changed).
PYTHON ?= python3
VENV_PY := .venv/bin/python

.PHONY: demo test setup lint

setup:
	$(PYTHON) tools/bootstrap.py

demo: setup
	$(VENV_PY) train.py hparams/conformer_ctc_early_exit.yaml

test: setup
	$(VENV_PY) -m pytest

lint: setup
	$(VENV_PY) -m ruff check . && $(VENV_PY) -m ruff format --check .
