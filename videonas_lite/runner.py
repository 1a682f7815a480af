"""The papermill harness: execute the numbered notebooks in order with one profile and one kernel. Notebook 00.

Used by ``make reproduce`` (``videonas reproduce``) and by ``tests/test_notebooks.py``. Each notebook
is executed on a fresh kernel named :data:`KERNEL_NAME` (the project's venv, registered by the
Makefile) with ``PROFILE`` injected into its ``parameters`` cell; the executed copy, and optionally
an HTML export of it, land in the output folder. A failing cell raises :class:`NotebookFailed`
naming the notebook, the cell and the error.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["KERNEL_NAME", "NotebookFailed", "execute", "notebook_paths", "run_series"]

KERNEL_NAME = "videonas-lite"
NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


class NotebookFailed(RuntimeError):
    """A cell of an executed notebook raised."""


def notebook_paths(folder: str | os.PathLike | None = None) -> list[Path]:
    """The course notebooks in order (``NN_name.ipynb``)."""
    folder = Path(folder) if folder else NOTEBOOK_DIR
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"{folder}: no notebooks named NN_*.ipynb")
    return paths


def export_html(executed: Path) -> Path:
    """Write ``executed`` as a standalone HTML page beside it (widget state included)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def execute(
    notebook: str | os.PathLike,
    out_dir: str | os.PathLike,
    profile: str = "ci",
    parameters: dict | None = None,
    kernel: str = KERNEL_NAME,
    html: bool = False,
) -> Path:
    """Execute ``notebook`` with ``PROFILE=profile`` (plus ``parameters``) into ``out_dir``; return the copy."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebook, out_dir = Path(notebook), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    try:
        pm.execute_notebook(
            str(notebook),
            str(target),
            parameters={"PROFILE": profile, **(parameters or {})},
            kernel_name=kernel,
            cwd=str(notebook.parent),
            progress_bar=False,
        )
    except PapermillExecutionError as err:
        source = "\n".join("    " + line for line in str(err.source).splitlines()[:15])
        raise NotebookFailed(
            f"{notebook.name}: cell {err.cell_index} (execution count {err.exec_count}) raised "
            f"{err.ename}: {err.evalue}\n  cell source:\n{source}\n  executed copy: {target}"
        ) from None
    if html:
        export_html(target)
    return target


def run_series(
    profile: str, out_dir: str | os.PathLike, notebooks: list[Path] | None = None, html: bool = True
) -> list[Path]:
    """Execute every notebook in order; stop at the first failure (later notebooks build on earlier ones)."""
    from tqdm.auto import tqdm

    done = []
    for path in tqdm(notebooks or notebook_paths(), desc=f"notebooks ({profile})", unit="nb"):
        done.append(execute(path, out_dir, profile, html=html))
    return done
