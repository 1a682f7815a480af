"""Every notebook ends with exercises whose solutions are hidden and checked (issue 12).

A solution is a code cell tagged ``solution``, folded in JupyterLab (``jupyter.source_hidden``) and in the
HTML export (``pages.py``), that asserts its answer: the papermill run of the notebook
(``test_notebooks.py``) executes it, so a wrong solution fails CI.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from videonas_lite.runner import notebook_paths

NOTEBOOKS = notebook_paths()


def _cells(path):
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_ends_with_exercises_and_checked_hidden_solutions(path):
    cells = _cells(path)
    heads = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert len(heads) == 1, f"{path.name}: expected one '## Exercises' cell"
    after = cells[heads[0]:]
    assert all(c.cell_type == "markdown" or "solution" in c.metadata.get("tags", []) for c in after), (
        f"{path.name}: only exercises and their solutions may follow '## Exercises'")
    numbered = re.findall(r"^\s*(\d+)\.", "\n".join(c.source for c in after if c.cell_type == "markdown"), re.M)
    solutions = [c for c in after if c.cell_type == "code"]
    assert len(numbered) >= 2 and solutions, f"{path.name}: at least two numbered exercises and one solution"
    for cell in solutions:
        first = cell.source.splitlines()[0]
        assert re.match(r"# Solution to exercise \d+", first), f"{path.name}: solution starts with {first!r}"
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, f"{path.name}: {first}: not hidden"
        asserts = [n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Assert)]
        assert asserts, f"{path.name}: {first} asserts nothing, so a wrong answer would pass"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_predict_then_run_prompts(path):
    prompts = [c for c in _cells(path) if c.cell_type == "markdown" and "**Predict, then run.**" in c.source]
    assert prompts, f"{path.name}: no 'Predict, then run' prompt before a key cell"
