"""The notebook series: committed clean, parameterised, and executed end to end by papermill (ci profile)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from videonas_lite.runner import KERNEL_NAME, NotebookFailed, execute, notebook_paths

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "notebooks" / "ci"
NOTEBOOKS = notebook_paths(ROOT / "notebooks")


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    dirty = [i for i, c in enumerate(_code_cells(path)) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_then_profile_resolution(path):
    first, second = _code_cells(path)[:2]
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: first code cell must be tagged 'parameters'"
    assert 'PROFILE = "default"' in first.source
    assert "resolve(PROFILE" in second.source, f"{path.name}: second code cell must resolve the profile"
    assert nbformat.read(path, as_version=4).metadata.kernelspec.name == KERNEL_NAME


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_with_the_ci_profile(path):
    executed = execute(path, BUILD, profile="ci")  # raises NotebookFailed naming the cell
    cells = _code_cells(executed)
    assert all(c.execution_count is not None for c in cells), "every cell ran"
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_a_failing_cell_is_named(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    params = nbformat.v4.new_code_cell('PROFILE = "default"')
    params.metadata.tags = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")]
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(NotebookFailed, match=r"99_broken\.ipynb: cell \d+ .*raised ValueError: boom"):
        execute(path, tmp_path / "out", profile="ci")


def _sleepy_notebook(tmp_path, flag: Path) -> Path:
    """A notebook whose second code cell hangs (sleeps 60 s) on its first run only: it leaves ``flag`` behind."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    params = nbformat.v4.new_code_cell('PROFILE = "default"')
    params.metadata.tags = ["parameters"]
    hang = f"import pathlib, time\nflag = pathlib.Path({str(flag)!r})\nif not flag.exists():\n"
    hang += "    flag.touch()\n    time.sleep(60)"
    nb.cells = [params, nbformat.v4.new_code_cell(hang), nbformat.v4.new_code_cell("done = True")]
    path = tmp_path / "98_sleepy.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_hung_cell_is_stopped_and_the_notebook_run_again(tmp_path, capfd):
    path = _sleepy_notebook(tmp_path, tmp_path / "hung-once")
    executed = execute(path, tmp_path / "out", profile="ci", cell_timeout=3, hang_retries=1)
    assert "stopped as hung; running the notebook again" in capfd.readouterr().err
    assert all(c.execution_count is not None for c in _code_cells(executed)), "the second run went through"


def test_a_cell_hung_on_the_last_try_fails_naming_it(tmp_path):
    path = _sleepy_notebook(tmp_path, tmp_path / "hung-once")
    # cell 1 of the executed copy is papermill's injected parameters, so the sleeping cell is cell 2
    hung = r"98_sleepy\.ipynb: cell 2 ran over the 3 s limit .* stopped as hung \(1 run"
    with pytest.raises(NotebookFailed, match=hung):
        execute(path, tmp_path / "out", profile="ci", cell_timeout=3, hang_retries=0)


def test_a_bad_parameter_fails_in_the_resolution_cell(tmp_path):
    with pytest.raises(NotebookFailed, match=r"00_overview\.ipynb: cell .*unknown profile 'nope'"):
        execute(NOTEBOOKS[0], tmp_path, profile="nope")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_cells_are_not_commented_code(path):
    """A converter that keeps the ``# `` comment prefix turns every markdown line into a heading."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    bad = [
        i
        for i, c in enumerate(cells)
        if len(lines := c.source.splitlines()) > 1 and all(s.startswith("#") for s in lines)
    ]
    assert not bad, f"{path.name}: markdown cells {bad} have '#' on every line"
