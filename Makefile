# videonas-lite: two commands on a fresh Linux machine with Python 3.11.
#   make reproduce [PROFILE=ci|default|gpu]   execute the notebook series into runs/<profile>/
#   make test                                  the whole test suite (unit + papermill end-to-end, ci profile)
PYTHON  ?= python3.11
PROFILE ?= default
VENV    := .venv
PY      := $(VENV)/bin/python
KERNEL  := videonas-lite
STAMP   := $(VENV)/.installed
# idle OpenMP threads sleep instead of spinning: on shared cores spinning made 2-thread steps 5-10x slower
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY

.PHONY: reproduce test lab lint bench dot venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (videonas-lite)" >/dev/null
	@touch $(STAMP)

# The Python graphviz package needs the system `dot`. Installed with apt when we are root, else one clear line.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing the graphviz renderer (dot) with apt-get"; \
	    (apt-get install -y -qq graphviz >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null)); \
	    command -v dot >/dev/null 2>&1 || { echo "error: apt-get could not install graphviz; install it, then re-run" >&2; exit 1; }; \
	  else \
	    echo "error: graphviz 'dot' not found; install it with 'sudo apt-get install graphviz' or 'conda install -c conda-forge graphviz python-graphviz'" >&2; exit 1; \
	  fi; }

reproduce: venv dot
	$(VENV)/bin/videonas reproduce --profile $(PROFILE) --out runs/$(PROFILE)

test: venv dot
	$(PY) -m ruff check .
	$(PY) -m pytest

lab: venv dot
	$(VENV)/bin/jupyter lab notebooks/

lint: venv
	$(PY) -m ruff check .

bench: venv
	$(PY) benchmarks/loading.py
	$(PY) benchmarks/search_step.py
	$(PY) benchmarks/networks.py
	$(PY) benchmarks/bilevel.py
	$(PY) benchmarks/fd_error.py

clean:
	rm -rf build runs
