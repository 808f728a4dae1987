# Partnerplan — every target sets itself up from nothing (a Python 3.11 interpreter is all it needs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check bench screenshots install clean-var messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Run the app on the embedded default (SQLite, filesystem broker, outbox in var/outbox) with demo data.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python scripts/run.py

## Run the whole test suite (lint, import layers, types, deployment checks, pytest).
test: install lint check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

check: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	SECRET_KEY=check-deploy-$$(date +%s)-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP \
	ALLOWED_HOSTS=plans.example.com DATABASE_URL=sqlite:///$(CURDIR)/var/check.sqlite3 \
	DJANGO_SETTINGS_MODULE=partnerplan.settings.production \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

## Screenshots of every page at 1280 and 390 px into artifacts/screenshots/, with axe and a sideways-scroll
## check per page (report.md); fails on a serious/critical violation. A fresh demo in a temporary var dir;
## needs Debian's Chromium (/usr/bin/chromium). SCREENSHOTS_ARGS="--only plan" or "--docs" (docs/screens/).
screenshots: install
	$(BIN)/python scripts/screenshots.py $(SCREENSHOTS_ARGS)

## Re-extract every marked string into locale/<de|fr|es>/LC_MESSAGES/django.po (translations kept, strings gone
## from the code dropped) and compile the .mo files beside them; commit both (docs/languages.md). Needs GNU gettext.
## tests/test_translations.py runs the same extraction and fails when a catalogue is behind the code.
MAKEMESSAGES_ARGS := -l de -l fr -l es --no-obsolete --add-location file \
	--ignore=.venv --ignore=var --ignore=artifacts --ignore=tests --ignore=benchmarks --ignore=clients
messages: install
	$(BIN)/python manage.py makemessages $(MAKEMESSAGES_ARGS)
	$(BIN)/python manage.py compilemessages --ignore=.venv --ignore=var

clean-var:
	rm -rf var
