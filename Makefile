# Two commands on a fresh machine with Python 3.11 and pip: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test venv test-env bench fuzz chaos clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)
	$(PIP) install --quiet -e ".[job]"

test-env: $(PY)
	$(PIP) install --quiet -e ".[test]"

demo: venv
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m distgrad demo

# The unit tests need no Ray: their files are spread over TEST_JOBS processes (CI has two
# cores), each file whole in one. The cluster and fuzz tests are spread the same way; each
# process shares one Ray runtime among its files (their time is mostly waiting for worker
# processes to start, stop and answer, so two overlap well even on two cores). The
# end-to-end test starts a real two-node Ray cluster: it runs in its own pytest process, last.
TEST_JOBS ?= 2
test: test-env
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile tests/unit
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile tests/cluster tests/fuzz
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q tests/e2e

bench: test-env
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m distgrad bench

# Differential fuzzing against PyTorch: FUZZ_COUNT programs (default 20000) from FUZZ_SEED,
# failures grouped by kind, each with a shrunk standalone reproducer (tests/fuzz/).
fuzz: test-env
	RAY_USAGE_STATS_ENABLED=0 $(PY) tests/fuzz/fuzz_programs.py

# Chaos: CHAOS_RUNS (default 100) training runs over two Ray workers, with workers SIGKILLed
# and SIGSTOPped at random moments (tests/cluster/chaos.py); prints runs, faults injected,
# hangs and silent mismatches (both must be 0).
chaos: test-env
	RAY_USAGE_STATS_ENABLED=0 CHAOS_RUNS=$${CHAOS_RUNS:-100} $(PY) tests/cluster/chaos.py

clean:
	rm -rf $(VENV) build *.egg-info
