# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test

# Debian packages some features and tests use: EGL/Mesa (headless rendering), Xvfb and
# xdotool (the real-window test), PrusaSlicer (the slicer test), Chromium (the web page test).
SYSTEM_PACKAGES := libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri xvfb xdotool prusa-slicer chromium

.PHONY: demo test install bench clean system-deps

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Editable installs; each re-runs when pyproject.toml changes.
$(BASE_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -e .
	touch $(BASE_STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(TEST_STAMP) $(BASE_STAMP)

install: $(BASE_STAMP)

demo: $(BASE_STAMP)
	$(BIN)/selfie3d demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

bench: $(BASE_STAMP)
	$(BIN)/selfie3d bench

clean:
	rm -rf $(VENV) build dist *.egg-info out

# Needs root (CI runs it); tests whose tool is missing skip with the reason.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES)
