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

# $(call apt_tool,PROGRAM,PACKAGE,WHAT FOR,HOW TO INSTALL): a missing system program is installed with apt-get
# when we are root, else the make stops with one clear line.
apt_tool = command -v $(1) >/dev/null 2>&1 || { \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "installing $(2) ($(3)) with apt-get"; \
    (apt-get install -y -qq $(2) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $(2) >/dev/null)); \
    command -v $(1) >/dev/null 2>&1 || { echo "error: apt-get could not install $(2); install it, then re-run" >&2; exit 1; }; \
  else \
    echo "error: $(1) not found ($(3)); install it with $(4)" >&2; exit 1; \
  fi; }

# The Python graphviz package needs the system `dot`.
dot:
	@$(call apt_tool,dot,graphviz,graphviz's renderer,'sudo apt-get install graphviz' or 'conda install -c conda-forge graphviz python-graphviz')

# The scripts, styles and fonts that executed pages load (videonas_lite/pages.py: require.js, MathJax 2.7.7, the
# ipywidgets html-manager, Font Awesome 4.7), so that pages work offline: pinned npm tarballs, checked against npm's
# sha512 integrity, unpacked once into .venv/share/videonas-lite/assets/ (5.8 MB; a no-op when already there).
assets: venv
	@$(PY) -m videonas_lite.pages fetch

# tests/test_offline_pages.py opens pages in a headless Chromium (Debian's package; nothing downloads a browser).
chromium:
	@$(call apt_tool,chromium,chromium,tests/test_offline_pages.py opens pages in it,'sudo apt-get install chromium')

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
	$(PY) benchmarks/loader_step.py

clean:
	rm -rf build runs
