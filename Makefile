# The two entry points of the README. Each sets everything up by itself (tools/setup_env.sh is
# idempotent: a second run takes seconds).
PYTHON := .venv/bin/python

.PHONY: setup test quickstart clean-env

setup:
	bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest

quickstart: setup
	$(PYTHON) tools/quickstart.py

clean-env:
	rm -rf .venv
