# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv on first use. On CPU machines torch is pinned to the local
# CPU build through constraints.txt; see DEVELOPERS.md for GPU machines.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo_out

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,atari]"
	# MinAtar without its plotting stack: worldlab draws MinAtar frames itself.
	$(BIN)/pip install -q --no-deps minatar
	touch $@

demo: setup
	$(BIN)/worldlab demo --out $(DEMO_OUT)

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check worldlab tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
