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

.PHONY: reproduce test lab lint bench dot chromium assets venv clean

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

# The scripts, styles and fonts that executed pages load (videonas_lite/pages.py: require.js, MathJax 2.7.7, the
# ipywidgets html-manager, Font Awesome 4.7), so that pages work offline: pinned npm tarballs, checked against npm's
# sha512 integrity, unpacked once into .venv/share/videonas-lite/assets/ (5.8 MB; a no-op when already there).
assets: venv
	@$(PY) -m videonas_lite.pages fetch

# tests/test_offline_pages.py opens pages in a headless Chromium. Installed with apt when we are root, else one line.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (headless, for tests/test_offline_pages.py) with apt-get"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	    command -v chromium >/dev/null 2>&1 || { echo "error: apt-get could not install chromium; install it, then re-run" >&2; exit 1; }; \
	  else \
	    echo "error: chromium not found (tests/test_offline_pages.py needs it); install it with 'sudo apt-get install chromium'" >&2; exit 1; \
	  fi; }

reproduce: venv dot assets
	$(VENV)/bin/videonas reproduce --profile $(PROFILE) --out runs/$(PROFILE)

test: venv dot assets chromium
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
