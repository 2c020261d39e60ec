# Two commands do all the set-up on a fresh Debian machine: `make demo` and `make test`.
# Each installs what is missing (Debian packages, then the virtual environment in .venv/) and runs.
# Both are idempotent: the second time they check and go straight to work.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := xvfb openbox xdotool xclip bubblewrap xterm x11-utils scrot procps iproute2 \
                fonts-dejavu-core fonts-noto-cjk python3-tk python3-venv chromium \
                x11vnc novnc websockify ffmpeg
PYTEST_ARGS ?=
# Two workers, one test file each at a time (module fixtures stay shared): much of the suite waits on
# subprocesses (Xvfb, apps, browsers), so two cores run it in about half the time. PYTEST_XDIST= runs serially.
PYTEST_XDIST ?= -n 2 --dist loadfile

.PHONY: demo test bench deps venv clean help

help:
	@echo "make demo   install what is missing, then run the demo suite (screenact demo)"
	@echo "make test   install what is missing, then run the test suite"
	@echo "make bench  run the benchmarks (prints ratios measured in one run); BENCH=\"ocr tasks\" for some"

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The venv's Python must have tkinter (the bundled apps are Tk); Debian's python3 has it with python3-tk.
$(BIN)/.installed: pyproject.toml | deps
	@py=$(PYTHON); $$py -c 'import tkinter, venv' 2>/dev/null || py=/usr/bin/python3; \
	[ -x $(BIN)/python ] || $$py -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/screenact demo || [ $$? -eq 1 ]  # 1: tasks ran, some failed — a result, not a set-up error

# compileall: the sandbox workers, apps and CLI subprocesses the tests start import the project's modules
# hundreds of times; with PYTHONDONTWRITEBYTECODE set (as on CI) each start would compile them anew.
test: venv
	$(BIN)/python -m compileall -q agent tools sandbox tasks tests >/dev/null
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

bench: venv
	$(BIN)/python bench/run_all.py $(BENCH)

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
