# eljobs make targets. `make help` lists them. Every target sets up .venv first if needed.
PY := .venv/bin/python
export PYSPARK_PYTHON := $(abspath $(PY))
export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: help setup demo test test-fast lint format bench pack clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup:  ## create .venv and install eljobs with its dev and test dependencies
	@scripts/bootstrap.sh dev

demo: setup  ## run the end-to-end demo: sample data, embedded broker, backfill -> extract -> refine -> sanitize
	$(PY) -m eljobs.demo

test: setup  ## run the whole test suite on local Spark, Apache Kafka and the Hadoop mini cluster
	$(PY) -m pytest --durations=25

test-fast: setup  ## the suite without the tests marked slow (end-to-end jobs, fault drills)
	$(PY) -m pytest -m "not slow"

lint: setup  ## ruff (lint + format check) and mypy on the package
	$(PY) -m ruff check eljobs tests bench
	$(PY) -m ruff format --check eljobs tests bench
	$(PY) -m mypy

format: setup  ## apply ruff's formatter and safe fixes
	$(PY) -m ruff check --fix eljobs tests bench
	$(PY) -m ruff format eljobs tests bench

bench: setup  ## run every benchmark in bench/ (slow: minutes each)
	for b in bench/*/run.py; do $(PY) $$b || exit 1; done

pack: setup  ## build dist/eljobs-env.tar.gz, the packed environment shipped to executors
	$(PY) -m eljobs.packaging

clean:  ## remove the work folder and build outputs (keeps .venv)
	rm -rf work build dist *.egg-info
