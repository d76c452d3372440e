# Feedbot: `make run` sets everything up and runs it; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.11 for the project, 3.10 for Rasa 3.6 (it needs < 3.11). Found on PATH,
# else under pyenv; override with `make PYTHON311=... PYTHON310=...`.
find_python = $(firstword $(foreach c,$(shell command -v python$(1) 2>/dev/null) \
  $(sort $(wildcard $(shell pyenv root 2>/dev/null)/versions/$(1).*/bin/python$(1))),\
  $(if $(shell $(c) -c 'import sys; print(sys.version_info[:2] == ($(subst .,$(comma),$(1))))' 2>/dev/null | grep True),$(c))))
comma := ,
PYTHON311 ?= $(call find_python,3.11)
PYTHON310 ?= $(call find_python,3.10)

VENV := .venv
RASA_VENV := .venv-rasa
RASA := $(RASA_VENV)/bin/rasa
FEEDBOT := $(VENV)/bin/feedbot
# Quiet, offline Rasa for the data checks and conversation tests (`feedbot`
# sets these itself when it starts Rasa).
RASA_ENV := RASA_TELEMETRY_ENABLED=false PYTHONWARNINGS=ignore TF_CPP_MIN_LOG_LEVEL=2 \
  SQLALCHEMY_SILENCE_UBER_WARNING=1

.PHONY: help install run demo train test chromium lint format test-rasa test-python bench bench-bulk bench-scale bench-analytics bench-handoff bench-loop clean

help:
	@echo "make run    set up everything (first time: a few minutes) and run Feedbot on SQLite"
	@echo "make demo   like make run, on a separate demo store filled with 5,000 surveys"
	@echo "make test   lint, validate the Rasa data, conversation tests and the pytest suite"
	@echo "make bench  turn times: app vs Rasa's REST channel, SMS vs web, hand-off to console (minutes)"
	@echo "make bench-bulk  10,000 SMS surveys at a rate limit: rate achieved, memory (about 45 min)"
	@echo "make bench-scale  turns at 1/20/100 at once: 12d500a, now, 2 app + 2 Rasa (about 15 min)"
	@echo "make bench-analytics  report and export over a million answers against pandas (about 30 min)"
	@echo "make bench-loop  owners' alerts at 50 at once, a digest over 100,000 answers, 10,000 'you said, we did' texts (about 15 min)"
	@echo "make clean  remove environments, models and var/"

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found. Install it: 'pyenv install 3.11' or 'apt-get install python3.11 python3.11-venv'."; exit 1; }
	$(PYTHON311) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]' -c constraints.txt
	$(VENV)/bin/python -m feedbot.understanding.spanish_sentiment
	touch $@

$(RASA_VENV)/.installed: requirements-rasa.txt constraints-rasa.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found; Rasa 3.6 needs it. Install it: 'pyenv install 3.10' (then re-run make) or 'apt-get install python3.10 python3.10-venv'."; exit 1; }
	$(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --upgrade pip wheel
	@echo "Installing Rasa 3.6 into $(RASA_VENV) (large: TensorFlow comes with it)…"
	$(RASA_VENV)/bin/pip install --progress-bar on -r requirements-rasa.txt -c constraints-rasa.txt
	touch $@

install: $(VENV)/.installed $(RASA_VENV)/.installed

train: install
	$(FEEDBOT) train

run: train
	$(FEEDBOT) run

# A separate store (var/demo.db) filled once with demo surveys, so the
# dashboard has something to show; real answers never mix with it.
DEMO_DB := sqlite:///$(CURDIR)/var/demo.db
demo: train
	@test -f var/demo.db || DATABASE_URL=$(DEMO_DB) $(FEEDBOT) demo-data --surveys 5000
	DATABASE_URL=$(DEMO_DB) $(FEEDBOT) run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Each language's model: English from the top-level files, Spanish from the
# files `feedbot train` writes from domain.yml, config.yml and locales/es/.
test-rasa: train
	$(RASA_ENV) $(RASA) data validate --fail-on-warnings
	$(RASA_ENV) $(RASA) data validate --fail-on-warnings --domain models/domain-es.yml \
	  --config models/config-es.yml --data data/rules.yml data/stories.yml locales/es/nlu
	$(RASA_ENV) $(RASA) test core --model models/feedbot.tar.gz --stories tests/test_stories.yml \
	  --fail-on-prediction-errors --out var/rasa-test-results
	$(RASA_ENV) $(RASA) test core --model models/feedbot-es.tar.gz --stories tests/test_stories.es.yml \
	  --fail-on-prediction-errors --out var/rasa-test-results-es

# The browser tests drive Debian's Chromium (Playwright downloads no browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests…"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium. Install it, then re-run make test:"; \
	    echo "  sudo apt-get install chromium fonts-dejavu-core"; exit 1; \
	  fi; }

test-python: train chromium
	$(VENV)/bin/pytest

test: lint test-rasa test-python

bench: train
	$(VENV)/bin/python -m bench.turn_latency
	$(VENV)/bin/python -m bench.sms turns
	$(VENV)/bin/python -m bench.handoff

bench-bulk: train
	$(VENV)/bin/python -m bench.sms bulk --surveys 10000 --rate 8

bench-scale: train
	$(VENV)/bin/python -m bench.scale

bench-analytics: install
	$(VENV)/bin/python -m bench.analytics --responses 1000000

bench-loop: train
	$(VENV)/bin/python -m bench.closing_loop alerts
	$(VENV)/bin/python -m bench.closing_loop digest
	$(VENV)/bin/python -m bench.closing_loop notices

clean:
	rm -rf $(VENV) $(RASA_VENV) models var .pytest_cache .ruff_cache
