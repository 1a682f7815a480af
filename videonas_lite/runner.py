"""The papermill harness: execute the numbered notebooks in order with one profile and one kernel. Notebook 00.

Used by ``make reproduce`` (``videonas reproduce``) and by ``tests/test_notebooks.py``. Each notebook
is executed on a fresh kernel named :data:`KERNEL_NAME` (the project's venv, registered by the
Makefile) with ``PROFILE`` injected into its ``parameters`` cell; the executed copy, and optionally
an HTML export of it, land in the output folder. A failing cell raises :class:`NotebookFailed`
naming the notebook, the cell and the error. :func:`run_series` runs the series on up to ``jobs`` lanes at
once, each notebook after those its metadata ``videonas.after`` names (:func:`dependencies`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "KERNEL_NAME", "NotebookFailed", "critical_path", "default_jobs", "dependencies", "execute", "notebook_paths",
    "recorded_seconds", "run_series",
]  # fmt: skip

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
    """A local kernel over IPC sockets named apart from every other kernel's.

    jupyter_client names the sockets ``kernel-ipc-1`` ... in the working directory and takes the first free
    numbers; two kernels started at once from one folder (two lanes of :func:`run_series`, two test runs) took
    the same ones and read each other's messages ("Invalid Signature"). A prefix unique to this process and
    call keeps them apart; jupyter_client removes the socket files when the kernel shuts down.
    """
    import tempfile
    import uuid

    from traitlets.config import Config

    prefix = Path(tempfile.gettempdir()) / f"videonas-kernel-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return Config({"KernelManager": {"transport": "ipc", "ip": str(prefix)}})


def export_html(executed: Path) -> Path:
    """Write ``executed`` as an HTML page beside it that works offline (widget state included; ``pages.py``)."""
    from videonas_lite.pages import export_page

    return export_page(executed)


def _last_started_cell(target: Path) -> str:
    """``cell N``: the last cell of the executed copy that papermill started (``a cell`` if it cannot tell)."""
    import nbformat

    try:
        cells = nbformat.read(target, as_version=4).cells
    except Exception:  # a copy cut short; the timeout is the news
        return "a cell"
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    return f"cell {started[-1]}" if started else "a cell"


def execute(
    notebook: str | os.PathLike,
    out_dir: str | os.PathLike,
    profile: str = "ci",
    parameters: dict | None = None,
    kernel: str = KERNEL_NAME,
    html: bool = False,
    cell_timeout: int | str | None = "profile",
    hang_retries: int = 1,
) -> Path:
    """Execute ``notebook`` with ``PROFILE=profile`` (plus ``parameters``) into ``out_dir``; return the copy.

    ``cell_timeout``: seconds a cell may run before it counts as hung (``"profile"``: the profile's
    ``cell_timeout_s``; None: no limit). A hung cell is stopped, and the notebook run again from the top on a
    fresh kernel up to ``hang_retries`` times (a line on stderr says so); then :class:`NotebookFailed` names the
    cell. Why: once in a few hundred notebook runs here the kernel finished a cell and went idle while papermill
    waited on for a reply that never came (notebook 01, a widget cell; the client blocked without a time limit).
    """
    import sys

    import papermill as pm
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    from videonas_lite.profiles import PROFILES

    notebook, out_dir = Path(notebook), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    if cell_timeout == "profile":
        cell_timeout = PROFILES[profile].cell_timeout_s if profile in PROFILES else None
    try:
        for attempt in range(hang_retries + 1):
            try:
                pm.execute_notebook(
                    str(notebook),
                    str(target),
                    parameters={"PROFILE": profile, **(parameters or {})},
                    kernel_name=kernel,
                    cwd=str(notebook.parent),
                    progress_bar=False,
                    execution_timeout=cell_timeout,
                    config=_ipc_config(),  # a local kernel over IPC: no "Kernel is running over TCP" warning
                )
                break
            except CellTimeoutError:
                where = _last_started_cell(target)
                if attempt == hang_retries:
                    raise NotebookFailed(
                        f"{notebook.name}: {where} ran over the {cell_timeout} s limit a cell has on profile "
                        f"{profile!r} (Profile.cell_timeout_s) and was stopped as hung ({attempt + 1} run(s)); "
                        f"executed copy: {target}"
                    ) from None
                print(f"{notebook.name}: {where} ran over {cell_timeout} s and was stopped as hung; running the "
                      "notebook again on a fresh kernel", file=sys.stderr, flush=True)  # fmt: skip
    except PapermillExecutionError as err:
        source = "\n".join("    " + line for line in str(err.source).splitlines()[:15])
        raise NotebookFailed(
            f"{notebook.name}: cell {err.cell_index} (execution count {err.exec_count}) raised "
            f"{err.ename}: {err.evalue}\n  cell source:\n{source}\n  executed copy: {target}"
        ) from None
    if html:
        export_html(target)
    return target


def dependencies(paths: list[Path]) -> dict[str, list[str]]:
    """Each notebook's predecessors within ``paths``: the stems its metadata ``videonas.after`` declares.

    A notebook that reads another's run folder (06 reads 05's search, 07 reads 06's genotype and retraining)
    declares it, and must come after it in the series; a predecessor outside ``paths`` (a partial series) is
    dropped, and the notebook then falls back to what it reads without it (06: the reference search).
    """
    import nbformat

    stems = [p.stem for p in paths]
    after: dict[str, list[str]] = {}
    for index, path in enumerate(paths):
        declared = nbformat.read(path, as_version=4).metadata.get("videonas", {}).get("after", [])
        if not isinstance(declared, list) or not all(isinstance(d, str) for d in declared):
            raise ValueError(f"{path.name}: metadata videonas.after must be a list of notebook names, got {declared!r}")
        late = [d for d in declared if d in stems and stems.index(d) >= index]
        if late:
            raise ValueError(f"{path.name}: metadata videonas.after names {late}, which do not come before it")
        after[path.stem] = [d for d in declared if d in stems]
    return after


def critical_path(stems: list[str], after: dict[str, list[str]], seconds: dict[str, float]) -> dict[str, float]:
    """Each notebook's seconds plus the longest chain of notebooks waiting on it (:func:`run_series`'s order).

    ``seconds``: expected wall seconds per notebook (one where unknown, so that chains count by length). With
    several lanes the ready notebook heading the longest chain starts first (ties in series order): on ``ci``
    05 -> 06 -> 07 and 08 start at once, and the short 00-04 fill the lanes beside them.
    """
    remaining: dict[str, float] = {}
    for stem in reversed(stems):  # a notebook's dependents come later in the series
        waiting = [remaining[t] for t in stems if stem in after.get(t, [])]
        remaining[stem] = float(seconds.get(stem, 1.0)) + max(waiting, default=0.0)
    return remaining


def recorded_seconds(profile: str) -> dict[str, float]:
    """The wall seconds per notebook last measured for ``profile`` (``benchmarks/results/notebook_times.json``).

    Only an ordering hint for :func:`run_series`: a missing or unreadable file, or an unmeasured profile, gives {}.
    """
    import json

    from videonas_lite.viz.course import TIMES_PATH

    try:
        entry = json.loads(TIMES_PATH.read_text()).get(profile) or {}
        return {k: float(v) for k, v in (entry.get("notebooks") or {}).items() if isinstance(v, int | float)}
    except (OSError, ValueError, AttributeError):
        return {}


def default_jobs() -> int:
    """Lanes of ``videonas reproduce`` by default: two where there are two cores, one on a single core."""
    return min(2, os.cpu_count() or 1)


def _lane_threads(jobs: int) -> int:
    """Torch (OpenMP) threads of each notebook's kernel with ``jobs`` lanes: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _one_notebook(path: Path, out_dir: Path, profile: str, html: bool, threads: int | None, t0: float) -> dict:
    """Execute one notebook of the series (and export its page); a failure is returned, not raised.

    ``threads``: the kernel's ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` (a lane's worker process sets them; the
    kernel inherits this process's environment); None leaves the environment as it is (``jobs=1``).
    ``t0``: the series' start on :func:`time.time`'s clock, so that the lanes' start and end times compare.
    """
    import time

    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    begin, start = time.time(), time.perf_counter()
    result: dict = {"stem": path.stem, "target": None, "failed": None, "html_s": None, "html_error": None}
    try:
        result["target"] = execute(path, out_dir, profile, html=False)
    except NotebookFailed as err:
        result["failed"] = str(err)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["start_s"], result["end_s"] = round(begin - t0, 1), round(time.time() - t0, 1)
    if html:
        copy = Path(out_dir) / path.name
        start = time.perf_counter()
        if result["failed"] is None:
            export_html(result["target"])
            result["html_s"] = round(time.perf_counter() - start, 1)
        elif copy.is_file():  # the failed notebook's page shows the traceback in place
            try:
                export_html(copy)
            except Exception as export_err:  # the failure is the news; a page missing is secondary
                result["html_error"] = f"no HTML page: {export_err}"
    return result


def run_series(
    profile: str,
    out_dir: str | os.PathLike,
    notebooks: list[Path] | None = None,
    html: bool = True,
    jobs: int | None = None,
) -> list[Path]:
    """Execute the notebooks on up to ``jobs`` lanes, each after the notebooks it declares (:func:`dependencies`).

    ``jobs``: notebooks executed at once (None: :func:`default_jobs`, two on a two-core machine); ``1`` runs
    them one after another in this process, in series order, as before. With several lanes each notebook runs
    in a worker process whose kernel gets ``OMP_NUM_THREADS`` = cores // jobs (one thread each on two cores),
    so the lanes do not fight over the cores; of the notebooks ready on a free lane, the one heading the longest
    chain of work starts first (:func:`critical_path`, by the times last measured for the profile). A failure
    stops the series: no notebook starts after it, the running ones finish, and :class:`NotebookFailed` is
    raised with the first failure's message (later notebooks build on earlier ones).

    Records ``out_dir/timings.json`` as it goes (report.py reads it for ``index.html``): profile, commit,
    machine, the load average before and after, the wall seconds of each notebook (kernel start to last
    cell; the HTML export is timed apart, ``html_s``), the series' wall time ``total_s`` (less than the sum
    of the notebooks' with several lanes), ``jobs``, the kernels' threads and each notebook's lane with its
    start and end in seconds from the series' start; on a failure, which notebook and why.
    """
    import json
    import time
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from datetime import UTC, datetime
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    from videonas_lite.profiles import PROFILES
    from videonas_lite.report import TIMINGS, commit_id, machine_info

    jobs = default_jobs() if jobs is None else jobs
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer (notebooks executed at once), got {jobs!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = list(notebooks or notebook_paths())
    after = dependencies(paths)
    threads = None if jobs == 1 else _lane_threads(jobs)
    stems = [p.stem for p in paths]
    # one lane: the series order; several: the longest chain first (critical_path), by the last measured times
    estimates = {} if jobs == 1 else recorded_seconds(profile)
    chain = critical_path(stems, after, estimates)
    rank = {s: (0.0 if jobs == 1 else -chain[s], i) for i, s in enumerate(stems)}
    known = PROFILES.get(profile)
    timings: dict = {
        "profile": profile, "commit": commit_id(), "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(known.cpu_threads if known else None),
        "loadavg_before": [round(v, 2) for v in os.getloadavg()],
        "series": stems, "jobs": jobs, "lane_threads": threads, "after": after,
        "order": "series" if jobs == 1 else "longest chain first" + (
            " (by benchmarks/results/notebook_times.json)" if estimates else " (by length: no measured times)"),
        "notebooks": {}, "html_s": {}, "lanes": {}, "total_s": None, "failed": None,
    }  # fmt: skip

    def record() -> None:
        timings["total_s"] = round(time.perf_counter() - series_start, 1)
        timings["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
        (out_dir / TIMINGS).write_text(json.dumps(timings, indent=2) + "\n")

    pool = None if jobs == 1 else ProcessPoolExecutor(jobs, mp_context=get_context("spawn"))
    pending, running, finished, done = list(paths), {}, set(), []
    t0, series_start = time.time(), time.perf_counter()
    record()  # the run folder says from the start which series, lanes and order it runs
    bar = tqdm(total=len(paths), desc=f"notebooks ({profile}, {jobs} lane{'s' * (jobs > 1)})", unit="nb")
    try:
        while pending or running:
            free = [lane for lane in range(jobs) if lane not in running.values()]
            ready = [p for p in pending if all(d in finished for d in after[p.stem])]
            ready.sort(key=lambda p: rank[p.stem])
            while timings["failed"] is None and free and ready:
                path, lane = ready.pop(0), free.pop(0)
                pending.remove(path)
                args = (path, out_dir, profile, html, threads, t0)
                if pool is None:  # one lane: in this process, as the series always ran
                    future: Future = Future()
                    future.set_result(_one_notebook(*args))
                else:
                    future = pool.submit(_one_notebook, *args)
                running[future] = lane
            if timings["failed"] is not None and not running:
                break
            if not running:  # cannot happen with dependencies on earlier notebooks only
                raise RuntimeError(f"no notebook can start: {[p.stem for p in pending]} wait on {after}")
            for future in wait(running, return_when=FIRST_COMPLETED).done:
                lane, result = running.pop(future), future.result()
                stem = result["stem"]
                timings["notebooks"][stem] = result["wall_s"]
                timings["lanes"][stem] = {"lane": lane, "start_s": result["start_s"], "end_s": result["end_s"]}
                if result["failed"] is not None:
                    failure = {"notebook": stem, "message": result["failed"]}
                    if result["html_error"]:
                        failure["html"] = result["html_error"]
                    if timings["failed"] is None:
                        timings["failed"] = failure
                    else:  # a notebook running beside the first failure failed too
                        timings.setdefault("failed_too", []).append(failure)
                else:
                    finished.add(stem)
                    done.append(Path(result["target"]))
                    if result["html_s"] is not None:
                        timings["html_s"][stem] = result["html_s"]
                bar.update(1)
                record()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    record()
    if timings["failed"] is not None:
        raise NotebookFailed(timings["failed"]["message"])
    return done
