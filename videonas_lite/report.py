"""The course report: ``runs/<profile>/index.html``, one offline page of a reproduced series. Notebook 00.

``videonas reproduce`` (``runner.run_series``) executes notebooks 00-08, on two lanes where there are two cores,
and records ``timings.json`` (profile, commit, machine, wall seconds per notebook, the lanes and when each notebook
ran on which); :func:`write_index` then gathers the outputs of the
code cells tagged ``report`` in each executed notebook, each under the heading of the markdown cell before
it, and links each notebook's HTML page. The page needs no JavaScript and nothing remote: CSS inline,
images as base64 ``data:`` URIs with alt text, HTML tables as the notebook drew them and Markdown tables as
HTML (an output carrying a script or a remote link falls back to its text), text as ``<pre>``.
``videonas report --run RUN`` rebuilds the page from a run folder.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import nbformat

__all__ = ["INDEX", "REPORT_TAG", "TIMINGS", "commit_id", "machine_info", "read_timings", "write_index"]

INDEX = "index.html"
TIMINGS = "timings.json"
REPORT_TAG = "report"
ROOT = Path(__file__).resolve().parents[1]
_NOTEBOOK = re.compile(r"^\d\d_.+\.ipynb$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# a remote or scripted reference in an HTML output: the page must work offline without JavaScript
_UNSAFE_HTML = re.compile(r"<script|<iframe|(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//|\bon\w+\s*=", re.I)


def commit_id(root: str | os.PathLike = ROOT) -> str | None:
    """``git rev-parse --short HEAD``, with ``+dirty`` when tracked files have uncommitted changes; None without git."""
    try:
        run = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=root, check=False)  # noqa: E731
        head = run("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return None
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except OSError:  # no git program
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(cpu_threads: int | None = None) -> dict:
    """Cores, CPU model, GPU (None without CUDA), torch version and threads of the machine running the series.

    ``cpu_threads`` is the profile's torch thread count for training (``Profile.cpu_threads``); the kernels
    inherit ``OMP_NUM_THREADS`` and ``OMP_WAIT_POLICY`` from this process.
    """
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "profile_cpu_threads": cpu_threads,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }


def read_timings(run_dir: str | os.PathLike) -> dict | None:
    """The run folder's ``timings.json`` (written by ``runner.run_series``), or None if it has none."""
    path = Path(run_dir) / TIMINGS
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); delete it or rerun") from None


# ----------------------------------------------------------------------------------------------- gathering


def _heading(markdown: str) -> str | None:
    for line in markdown.splitlines():
        if line.lstrip().startswith("#"):
            return line.lstrip().lstrip("#").strip() or None
    return None


TEX_SYMBOLS = {r"\alpha": "α", r"\xi": "ξ", r"\epsilon": "ε", r"\varepsilon": "ε", r"\lambda": "λ",
               r"\nabla": "∇", r"\mathcal L": "ℒ", r"\mathcal{L}": "ℒ", r"\times": "×"}
"""TeX commands of the notebooks' headings and the Unicode a page without MathJax shows for them."""


def plain_math(text: str) -> str:
    """``text`` as HTML, each ``$...$`` in italics with the commands of :data:`TEX_SYMBOLS` as Unicode (the report
    runs no MathJax): "The error against $r$" -> "The error against <i>r</i>"."""

    def italic(tex: str) -> str:
        for command, symbol in TEX_SYMBOLS.items():
            tex = tex.replace(command, symbol)
        return f"<i>{html.escape(tex.replace(chr(92), ''))}</i>"

    parts = re.split(r"\$([^$]+)\$", text)  # odd positions: the insides of $...$
    return "".join(italic(part) if k % 2 else html.escape(part) for k, part in enumerate(parts))


def _title(nb: nbformat.NotebookNode, stem: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (h := _heading(cell.source)):
            return h
    return stem


def _text(value: str | list) -> str:
    return _ANSI.sub("", "".join(value) if isinstance(value, list) else value)


def _output_html(output: nbformat.NotebookNode, alt: str) -> str:
    """One output as offline HTML: an image, a table (HTML as drawn), or text in ``<pre>``."""
    kind = output.get("output_type")
    if kind == "stream":
        return f'<pre class="{html.escape(output.get("name", "stdout"))}">{html.escape(_text(output.text))}</pre>'
    if kind == "error":
        message = f"{output.ename}: {output.evalue}"
        return f'<pre class="error">{html.escape(_ANSI.sub("", message))}</pre>'
    data = output.get("data", {})
    alt = html.escape(alt, quote=True)
    for mime in ("image/png", "image/jpeg", "image/gif"):
        if mime in data:
            b64 = "".join(data[mime].split())
            return f'<img src="data:{mime};base64,{b64}" alt="{alt}">'
    if "image/svg+xml" in data:
        b64 = base64.b64encode(_text(data["image/svg+xml"]).encode()).decode()
        return f'<img src="data:image/svg+xml;base64,{b64}" alt="{alt}">'
    if "text/html" in data:
        body = _text(data["text/html"])
        if not _UNSAFE_HTML.search(body):
            return f'<div class="html">{body}</div>'
        if "text/plain" not in data:
            return '<p class="note">(an interactive output: open the notebook\'s page)</p>'
    if "text/markdown" in data:  # a Markdown table (e.g. compare.markdown_table) as an HTML table
        from nbconvert.filters.markdown_mistune import markdown2html_mistune

        body = markdown2html_mistune(_text(data["text/markdown"]))
        if not _UNSAFE_HTML.search(body):
            return f'<div class="html">{body}</div>'
        return f"<pre>{html.escape(_text(data['text/markdown']))}</pre>"
    if "text/plain" in data:
        return f"<pre>{html.escape(_text(data['text/plain']))}</pre>"
    return ""


def _results(nb: nbformat.NotebookNode, stem: str) -> list[tuple[str, list[str]]]:
    """(heading, output HTML pieces) of every code cell tagged ``report``, in notebook order."""
    results, heading = [], None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            heading = _heading(cell.source) or heading
            continue
        if cell.cell_type != "code" or REPORT_TAG not in cell.metadata.get("tags", []):
            continue
        title = heading or f"cell {index}"
        pieces, images = [], 0
        for output in cell.get("outputs", []):
            if any(m.startswith("image/") for m in output.get("data", {})):
                images += 1
            piece = _output_html(output, f"{title} ({stem}, figure {images})")
            if piece:
                pieces.append(piece)
        results.append((title, pieces))
    return results


def _failure(nb: nbformat.NotebookNode) -> str | None:
    """Where an executed notebook failed: the first cell with an error output (papermill marks it), or None."""
    if not nb.metadata.get("papermill", {}).get("exception"):
        return None
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]  # its banners
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return (f"cell {index} (execution count {cell.get('execution_count')}) raised "
                        f"{output.ename}: {_ANSI.sub('', output.evalue)}")  # fmt: skip
    return "papermill recorded an exception"


# ------------------------------------------------------------------------------------------------- the page

_CSS = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0 auto;
       max-width: 64rem; padding: 1rem 1.5rem 3rem; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
h3 { margin-top: 1.5rem; } a { color: #0645ad; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
pre { background: #f6f6f6; padding: .5rem .7rem; overflow-x: auto; font-size: .85rem; white-space: pre-wrap; }
pre.error, .failed { color: #a00; } .ok { color: #070; } .note, .muted { color: #666; }
div.html { overflow-x: auto; }
"""


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    minutes, seconds = divmod(round(value), 60)
    return f"{value:.1f} s" if value < 60 else f"{value:.1f} s ({minutes} min {seconds:02d} s)"


def _machine_line(machine: dict | None) -> str:
    if not machine:
        return "not recorded (no timings.json: rerun videonas reproduce)"
    parts = [f"{machine.get('cores')} cores", str(machine.get("cpu")), f"GPU {machine.get('gpu') or 'none'}",
             f"torch {machine.get('torch')}", f"torch threads {machine.get('torch_threads')}"]  # fmt: skip
    if machine.get("profile_cpu_threads") is not None:
        parts.append(f"training threads {machine['profile_cpu_threads']} (the profile's)")
    if machine.get("OMP_NUM_THREADS"):
        parts.append(f"OMP_NUM_THREADS={machine['OMP_NUM_THREADS']}")
    return ", ".join(parts)


def _series(run_dir: Path, timings: dict | None) -> list[str]:
    """The notebook stems of the series: the run's own list, else the course's, else the executed copies."""
    if timings and timings.get("series"):
        return list(timings["series"])
    executed = sorted(p.stem for p in run_dir.glob("[0-9][0-9]_*.ipynb") if _NOTEBOOK.match(p.name))
    from videonas_lite.runner import notebook_paths

    try:
        course = [p.stem for p in notebook_paths()]
    except FileNotFoundError:
        course = []
    return course + [s for s in executed if s not in course] if course else executed


def write_index(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the course report of ``run_dir`` (default ``run_dir/index.html``); return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"--run {run_dir}: no such folder (expected a folder written by videonas reproduce)")
    executed = {p.stem: p for p in run_dir.glob("[0-9][0-9]_*.ipynb") if _NOTEBOOK.match(p.name)}
    if not executed:
        raise ValueError(f"--run {run_dir}: no executed notebooks (NN_*.ipynb) in it; run videonas reproduce first")
    timings = read_timings(run_dir)
    series = _series(run_dir, timings)
    seconds = (timings or {}).get("notebooks", {})
    failed = (timings or {}).get("failed") or {}
    jobs, lanes = (timings or {}).get("jobs"), (timings or {}).get("lanes") or {}
    lane_column = bool(jobs and jobs > 1)

    def lane_cell(stem: str) -> str:  # the lane a notebook ran on, with its start and end in the series
        if not lane_column:
            return ""
        at = lanes.get(stem)
        text = "–" if at is None else f"{at['lane'] + 1} ({at['start_s']:.0f}-{at['end_s']:.0f} s)"
        return f"<td>{text}</td>"

    rows, sections, profile = [], [], (timings or {}).get("profile")
    for stem in series:
        path = executed.get(stem)
        if path is None:
            status = '<span class="muted">not run</span>'
            if failed:
                status += f' <span class="muted">({html.escape(failed.get("notebook", "?"))} failed first)</span>'
            rows.append(f"<tr><td>{html.escape(stem)}</td><td>{status}</td><td>–</td>{lane_cell(stem)}</tr>")
            continue
        nb = nbformat.read(path, as_version=4)
        papermill = nb.metadata.get("papermill", {})
        profile = profile or papermill.get("parameters", {}).get("PROFILE")
        wall = seconds.get(stem, papermill.get("duration"))
        where = _failure(nb)
        if failed.get("notebook") == stem:  # run_series's words (papermill's cell numbering)
            where = (failed.get("message") or where or "failed").splitlines()[0]
        page = path.with_suffix(".html")
        link = page if page.is_file() else path
        href = html.escape(link.name, quote=True)
        status = '<span class="failed">failed</span>' if where else '<span class="ok">ok</span>'
        rows.append(f'<tr><td><a href="{href}">{html.escape(stem)}</a></td><td>{status}</td>'
                    f"<td>{_seconds(wall)}</td>{lane_cell(stem)}</tr>")  # fmt: skip
        body = [f'<h2 id="{html.escape(stem, quote=True)}">{plain_math(_title(nb, stem))}</h2>',
                f'<p class="muted">{html.escape(stem)}: <a href="{href}">the executed notebook</a> '
                f"({'HTML page' if link is page else 'no HTML page: the .ipynb'}), {_seconds(wall)}</p>"]  # fmt: skip
        if where:
            body.append(f'<p class="failed"><strong>Failed:</strong> {html.escape(where)}</p>')
            if failed.get("notebook") == stem and failed.get("message"):
                body.append(f'<pre class="error">{html.escape(failed["message"])}</pre>')
        results = _results(nb, stem)
        if not results:
            body.append('<p class="note">no results tagged</p>')
        previous = None
        for title, pieces in results:
            if title != previous:  # several tagged cells under one heading: the heading once
                body.append(f"<h3>{plain_math(title)}</h3>")
            previous = title
            body.extend(pieces or ['<p class="note">(this cell produced no output)</p>'])
        sections.append("\n".join(body))

    total = (timings or {}).get("total_s")
    if total is None and seconds:
        total = sum(seconds.values())
    commit = (timings or {}).get("commit") or "not recorded"
    lanes_line = ""
    if jobs:
        threads = html.escape(str((timings or {}).get("lane_threads")))
        lanes_line = (f"<br>\nLanes: {html.escape(str(jobs))} (videonas reproduce --jobs {html.escape(str(jobs))}): "
                      + ("notebooks ran at once where their dependencies allowed, each kernel on "
                         f"{threads} torch thread(s); the total is the series' wall time, less than the sum of the "
                         "notebooks'." if lane_column else "one notebook after another."))  # fmt: skip
    after = ("no notebook started after it (the ones running beside it finished)" if lane_column
             else "the notebooks after it did not run")  # fmt: skip
    verdict = (f'<p class="failed"><strong>{html.escape(failed["notebook"])} failed</strong>; {after}.</p>'
               if failed else "")  # fmt: skip
    title = f"videonas-lite: the course, profile {profile or '?'}"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>Profile <strong>{html.escape(str(profile or "?"))}</strong>; commit <code>{html.escape(commit)}</code>;
run {html.escape(str((timings or {}).get("started", "at an unrecorded time")))}.<br>
Machine: {html.escape(_machine_line((timings or {}).get("machine")))}.{lanes_line}</p>
{verdict}
<table>
<thead><tr><th>notebook</th><th>status</th><th>wall time</th>{"<th>lane (start-end)</th>" * lane_column}</tr></thead>
<tbody>
{chr(10).join(rows)}
<tr><td><strong>total</strong></td><td></td><td><strong>{_seconds(total)}</strong></td>{"<td></td>" * lane_column}</tr>
</tbody>
</table>
{chr(10).join(sections)}
</body>
</html>
"""
    target = Path(out) if out is not None else run_dir / INDEX
    target.write_text(page, encoding="utf-8")
    return target
