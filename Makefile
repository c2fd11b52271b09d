# Every target installs what it needs: `make demo` and `make test` work on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test clock-sweep lint unit integration e2e bench clean

# setup.py builds the C extension (tapwatch.sources._fastpage): a change to it or its source
# reinstalls, which rebuilds it in place
$(STAMP): pyproject.toml setup.py src/tapwatch/sources/_fastpage.c scripts/setup-build-deps
	scripts/setup-build-deps python3
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tapwatch demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench monitoring

test: $(STAMP)
	scripts/setup-test-deps
	$(VENV)/bin/ruff check src tests bench monitoring
	$(PY) -m pytest -q
	PY=$(PY) scripts/clock-sweep

clock-sweep: $(STAMP)
	PY=$(PY) scripts/clock-sweep

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/tapwatch/sources/*.so
