# recplug: the two commands a new user needs are `make demo` and `make test`; both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= runs/demo

.PHONY: setup test demo lint clean

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/recplug demo --out $(RUN)

lint: setup
	$(VENV)/bin/ruff check recplug teachers features experiments tests

clean:
	rm -rf runs .pytest_cache
