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


def _ipc_config():
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "ipc"}})


def export_html(executed: Path) -> Path:
    """Write ``executed`` as an HTML page beside it that works offline (widget state included; ``pages.py``)."""
    from videonas_lite.pages import export_page

    return export_page(executed)


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
            config=_ipc_config(),  # a local kernel over IPC: no "[IPKernelApp] WARNING | Kernel is running over TCP"
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
    """Execute every notebook in order; stop at the first failure (later notebooks build on earlier ones).

    Records ``out_dir/timings.json`` as it goes (report.py reads it for ``index.html``): profile, commit,
    machine, the load average before and after, the wall seconds of each notebook (kernel start to last
    cell; the HTML export is timed apart, ``html_s``) and the total; on a failure, which notebook and why.
    """
    import json
    import time
    from datetime import UTC, datetime

    from tqdm.auto import tqdm

    from videonas_lite.profiles import PROFILES
    from videonas_lite.report import TIMINGS, commit_id, machine_info

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = list(notebooks or notebook_paths())
    known = PROFILES.get(profile)
    timings: dict = {
        "profile": profile, "commit": commit_id(), "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(known.cpu_threads if known else None),
        "loadavg_before": [round(v, 2) for v in os.getloadavg()],
        "series": [p.stem for p in paths], "notebooks": {}, "html_s": {}, "total_s": None, "failed": None,
    }  # fmt: skip

    def record(start: float) -> None:
        timings["total_s"] = round(time.perf_counter() - start, 1)
        timings["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
        (out_dir / TIMINGS).write_text(json.dumps(timings, indent=2) + "\n")

    done, series_start = [], time.perf_counter()
    for path in tqdm(paths, desc=f"notebooks ({profile})", unit="nb"):
        start = time.perf_counter()
        try:
            target = execute(path, out_dir, profile, html=False)
        except NotebookFailed as err:
            timings["notebooks"][path.stem] = round(time.perf_counter() - start, 1)
            timings["failed"] = {"notebook": path.stem, "message": str(err)}
            if html:  # the failed notebook's page shows the traceback in place
                failed_copy = out_dir / path.name
                if failed_copy.is_file():
                    try:
                        export_html(failed_copy)
                    except Exception as export_err:  # the failure is the news; a page missing is secondary
                        timings["failed"]["html"] = f"no HTML page: {export_err}"
            record(series_start)
            raise
        timings["notebooks"][path.stem] = round(time.perf_counter() - start, 1)
        if html:
            start = time.perf_counter()
            export_html(target)
            timings["html_s"][path.stem] = round(time.perf_counter() - start, 1)
        done.append(target)
        record(series_start)
    return done
