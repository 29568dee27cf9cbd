# The two entry points of the README. Each sets everything up by itself (tools/setup_env.sh is
# idempotent: a second run takes seconds).
PYTHON := .venv/bin/python

.PHONY: setup test quickstart quickstart-video clean-env

setup:
	bash tools/setup_env.sh

test: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest

quickstart: setup
	$(PYTHON) tools/quickstart.py

# the video model on generated videos: trains ~5 min on 2 idle cores, fails unless its video AP
# clears the bar of tools/quickstart_video.py (docs/video.md)
quickstart-video: setup
	$(PYTHON) tools/quickstart_video.py

clean-env:
	rm -rf .venv
