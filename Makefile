# Themata: `make run` to try it, `make test` to check it. Only Python >= 3.12 and make needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PORT ?= 8000
# Never let uv fetch an interpreter: the machine's Python 3.12+ is the one we use.
export UV_PYTHON_DOWNLOADS := never

# Use uv if it works here; otherwise bootstrap it into .tools/ (no system changes).
UV_ON_PATH := $(shell uv --version >/dev/null 2>&1 && echo uv)
ifeq ($(UV_ON_PATH),)
UV := .tools/bin/uv
UV_DEP := .tools/bin/uv
else
UV := uv
UV_DEP :=
endif
RUN := $(UV) run --frozen

.PHONY: help install run test bench lint format check-deploy clean

help:
	@echo "make run    install, migrate, load the demo and serve on http://127.0.0.1:$(PORT)"
	@echo "make test   the whole test suite (SQLite, or PostgreSQL when DATABASE_URL is set)"
	@echo "make bench  the performance benchmark (see docs/performance.md)"
	@echo "make lint   ruff check, format check and mypy"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

install: $(UV_DEP)
	$(UV) sync --frozen --compile-bytecode
	@# The project's own modules too: with PYTHONDONTWRITEBYTECODE set (as on this machine)
	@# every process would compile them again at start-up (~0.2 s per command or worker).
	@$(RUN) python -m compileall -q config articles annotations

run: install
	$(RUN) python manage.py migrate --noinput
	PORT=$(PORT) $(RUN) python manage.py demo
	@# The background worker (exports, figures) runs beside the server; stopping one stops both.
	@.venv/bin/python manage.py db_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	.venv/bin/python manage.py runserver 127.0.0.1:$(PORT)

test: install
	$(RUN) python manage.py makemigrations --check --dry-run
	$(RUN) pytest

bench: install
	$(RUN) python -m tests.bench.run

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy .

format: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean:
	rm -rf .venv .tools staticfiles .pytest_cache
