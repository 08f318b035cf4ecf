# kdmon: `make run` brings up the demo plant and the dashboard; `make test` runs every test.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast lint format install install-dev clean-demo

$(VENV)/.installed: pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) scripts/install.sh $(VENV)
	touch $@

$(VENV)/.installed-dev: pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) scripts/install.sh $(VENV) dev
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/kdmon run

# Two test processes (CI has two cores; most tests train single-threaded models).
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "slow or not slow" -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean-demo:
	rm -rf var
