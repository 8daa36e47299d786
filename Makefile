# `make run` and `make test` set everything up on a fresh machine, then run.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Python 3.12+: python3.13/python3.12 on PATH first (skipping pyenv shims that cannot run), then pyenv's.
PYTHON_BOOT ?= $(shell for c in python3.12 python3.13; do $$c -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && { command -v $$c; exit 0; }; done; \
	for v in 3.12 3.13; do p=$$(pyenv prefix $$(pyenv versions --bare 2>/dev/null | grep "^$$v" | tail -1) 2>/dev/null) && [ -x "$$p/bin/python$$v" ] && { echo "$$p/bin/python$$v"; exit 0; }; done)
DEBS := nginx libnginx-mod-rtmp ffmpeg fonts-wqy-microhei chromium chromium-driver postgresql

.PHONY: run test setup venv debs bench clean

run: setup
	$(PY) main.py run

test: setup
	$(PY) -m pytest -q

setup: debs venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON_BOOT)" || { echo "need Python >= 3.12 (on PATH or through pyenv)"; exit 1; }
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

bench: setup
	$(PY) -m benchmarks.stream

clean:
	rm -rf $(VENV) var .pytest_cache
