"""The course report (report.py): index.html gathers the cells tagged ``report``, offline, and shows failures."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import nbformat
import pytest

from videonas_lite import cli, runner
from videonas_lite.report import INDEX, TIMINGS, commit_id, machine_info, write_index
from videonas_lite.runner import KERNEL_NAME

# an image's bytes (never decoded here), and the marker text of the other outputs, to find them on the page
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n a tiny figure").decode()
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
TABLE = "<table class='dataframe'><tr><th>op</th><th>FLOPs</th></tr><tr><td>conv_3x3x3</td><td>42</td></tr></table>"
SCRIPTED = "<div>widget</div><script src='https://cdn.example.org/x.js'></script>"


def _code(source: str, outputs: list, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, execution_count=1, outputs=outputs)
    if tags:
        cell.metadata.tags = list(tags)
    return cell


def _notebook(cells: list, profile: str = "ci", duration: float = 1.5, exception: bool = False):
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    nb.metadata.papermill = {"parameters": {"PROFILE": profile}, "duration": duration, "exception": exception}
    params = _code('PROFILE = "default"', [], ("parameters",))
    nb.cells = [params, *cells]
    return nb


def _display(data: dict) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data=data)


def _stream(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


@pytest.fixture
def run(tmp_path) -> Path:
    """A run folder as videonas reproduce leaves it after 02 failed: 00 untagged, 01 tagged, 02 failed, 03 not run."""
    md = nbformat.v4.new_markdown_cell
    notebooks = {
        "00_overview": _notebook([md("# 00 · The map of the course"), _code("print('env ok')", [_stream("env ok\n")])]),
        "01_probes": _notebook([
            md("# 01 · Is time needed?\n\nText."),
            md("## The probe table\n\nPredict first."),
            _code("df", [nbformat.v4.new_output("execute_result", data={"text/html": TABLE, "text/plain": "df"},
                                                execution_count=1)], ("report",)),
            md("## Accuracy per epoch"),
            _code("plt.plot()", [_display({"image/png": PNG, "text/plain": "<Figure>"}),
                                 _display({"image/svg+xml": SVG})], ("report", "solution")),
            md("## Summary"),
            _code("print(x)", [_stream("probe accuracy \x1b[1m0.91\x1b[0m < 1 & done\n")], ("report",)),
            _code("widget", [_display({"text/html": SCRIPTED, "text/plain": "Widget(value=3)"})], ("report",)),
            md("## The comparison"),
            _code("Markdown(table)", [_display({"text/markdown": "| arch | top-1 |\n| --- | ---: |\n| c3d | 0.25 |\n",
                                                "text/plain": "<Markdown>"})], ("report",)),
            _code("print('not in the report')", [_stream("untagged output\n")]),
        ]),
        "02_search": _notebook(
            [md("# 02 · Search"), md("## Curves"),
             _code("1/0", [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                  traceback=["\x1b[31mZeroDivisionError\x1b[0m"])], ("report",))],
            exception=True,
        ),
    }
    for stem, nb in notebooks.items():
        nbformat.write(nb, tmp_path / f"{stem}.ipynb")
    (tmp_path / "01_probes.html").write_text("<html>executed 01</html>")
    timings = {
        "profile": "ci", "commit": "abc1234+dirty", "started": "2026-12-01 23:00 UTC",
        "machine": {"cores": 2, "cpu": "Test CPU 3000", "gpu": None, "torch": "2.14.1", "torch_threads": 1,
                    "profile_cpu_threads": 1, "OMP_NUM_THREADS": "1"},
        "series": ["00_overview", "01_probes", "02_search", "03_later"],
        "notebooks": {"00_overview": 12.3, "01_probes": 75.0, "02_search": 4.5}, "total_s": 95.2,
        "failed": {"notebook": "02_search", "message": "02_search.ipynb: cell 3 (execution count 1) raised "
                   "ZeroDivisionError: division by zero\n  cell source:\n    1/0"},
    }  # fmt: skip
    (tmp_path / TIMINGS).write_text(json.dumps(timings))
    return tmp_path


def _section(page: str, stem: str) -> str:
    start = page.index(f'<h2 id="{stem}">')
    end = page.find("<h2 ", start + 1)
    return page[start : end if end != -1 else len(page)]


def test_the_page_states_profile_commit_machine_and_wall_time_per_notebook(run):
    page = write_index(run).read_text()
    assert "<strong>ci</strong>" in page and "abc1234+dirty" in page
    assert "2 cores" in page and "Test CPU 3000" in page and "GPU none" in page and "torch 2.14.1" in page
    assert "12.3 s" in page and "75.0 s (1 min 15 s)" in page and "95.2 s (1 min 35 s)" in page


def test_tagged_outputs_are_gathered_under_their_headings_per_notebook(run):
    page = write_index(run).read_text()
    probes = _section(page, "01_probes")
    assert "01 · Is time needed?" in probes
    headings = ("The probe table", "Accuracy per epoch", "Summary")
    table, figure, summary = (probes.index(f"<h3>{h}</h3>") for h in headings)
    assert table < probes.index("conv_3x3x3") < figure  # the HTML table as it is, under its heading
    assert figure < probes.index(f"data:image/png;base64,{PNG}") < summary
    assert probes.index("data:image/svg+xml;base64,") > figure
    assert "<pre>probe accuracy 0.91 &lt; 1 &amp; done\n</pre>" in probes.replace('<pre class="stdout">', "<pre>")
    comparison = probes[probes.index("<h3>The comparison</h3>") :]
    assert re.search(r"<table>.*<th>arch</th>.*<td[^>]*>0.25</td>", comparison, re.S)  # Markdown -> an HTML table
    assert "untagged output" not in page and "env ok" not in page  # only cells tagged report


def test_every_image_has_alt_text(run):
    page = write_index(run).read_text()
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == 2
    for tag in images:
        alt = re.search(r'\balt="([^"]+)"', tag)
        assert alt and "Accuracy per epoch" in alt.group(1), tag


def test_the_page_works_offline_no_remote_urls_no_script(run):
    page = write_index(run).read_text()
    assert "<script" not in page.lower() and "cdn.example.org" not in page
    assert "Widget(value=3)" in page  # the scripted output falls back to its text
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, re.I)
    assert refs, "the page links the notebooks"
    remote = [r for r in refs if re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", r, re.I) and not r.startswith("data:")]
    assert not remote
    assert all(r.startswith("data:image/") or not re.match(r"^[a-z]+:", r) for r in refs), refs
    assert "<style>" in page and 'rel="stylesheet"' not in page


def test_each_executed_notebook_is_linked_its_html_page_when_there_is_one(run):
    page = write_index(run).read_text()
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert "01_probes.html" in hrefs  # the HTML page exists
    assert "00_overview.ipynb" in hrefs and "02_search.ipynb" in hrefs  # no HTML page: the executed notebook
    assert all((run / h).exists() for h in hrefs)


def test_untagged_notebooks_say_so_and_failures_show_where(run):
    page = write_index(run).read_text()
    assert "no results tagged" in _section(page, "00_overview")
    assert "no results tagged" not in _section(page, "01_probes")
    failed = _section(page, "02_search")
    assert "failed" in failed and "cell 3 (execution count 1) raised ZeroDivisionError: division by zero" in failed
    assert "02_search failed</strong>" in page
    row = re.search(r"<tr><td>03_later</td><td>(.*?)</td>", page)
    assert row and "not run" in row.group(1) and "02_search failed first" in row.group(1)


def test_without_timings_the_profile_and_times_come_from_papermill(run):
    (run / TIMINGS).unlink()
    page = write_index(run, run / "other.html").read_text()
    assert "<strong>ci</strong>" in page and "not recorded" in page
    assert "1.5 s" in page  # papermill's duration of each notebook
    assert "failed" in _section(page, "02_search")  # papermill's exception flag and the error output


def test_report_command_rebuilds_and_bad_folders_are_one_line(run, tmp_path, capsys):
    (run / INDEX).unlink(missing_ok=True)
    assert cli.main(["report", "--run", str(run)]) == 0
    assert (run / INDEX).is_file() and str(run / INDEX) in capsys.readouterr().out
    assert cli.main(["report", "--run", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err and "no such folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["report", "--run", str(empty)]) == 2
    assert "no executed notebooks" in capsys.readouterr().err


def test_commit_and_machine():
    commit = commit_id()
    assert commit is None or re.fullmatch(r"[0-9a-f]{4,40}(\+dirty)?", commit)
    machine = machine_info(cpu_threads=1)
    assert machine["cores"] >= 1 and machine["torch"] and machine["profile_cpu_threads"] == 1
    assert commit_id("/") is None  # not a git checkout


def test_reproduce_times_the_series_and_reports_a_failure_in_one_line(tmp_path, monkeypatch, capsys):
    """Real kernels: a passing, a failing and a never-run notebook through ``videonas reproduce``."""
    md = nbformat.v4.new_markdown_cell
    sources = {
        "00_ok": [md("# OK"), md("## Greeting"), nbformat.v4.new_code_cell("print('hello', PROFILE)")],
        "01_bad": [md("# Bad"), nbformat.v4.new_code_cell("raise ValueError('boom')")],
        "02_never": [md("# Never")],
    }
    sources["00_ok"][2].metadata.tags = ["report"]
    paths = []
    for stem, cells in sources.items():
        nb = _notebook(cells)
        nb.metadata.pop("papermill")
        nb.cells[0].outputs, nb.cells[0].execution_count = [], None
        paths.append(tmp_path / f"{stem}.ipynb")
        nbformat.write(nb, paths[-1])
    monkeypatch.setattr(runner, "notebook_paths", lambda folder=None: paths)
    monkeypatch.setattr(cli, "_profile_data", lambda profile, data: None)
    out = tmp_path / "run"
    assert cli.main(["reproduce", "--profile", "ci", "--out", str(out), "--jobs", "1"]) == 1  # in order
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]  # tqdm's bar aside
    assert len(err) == 1 and "01_bad.ipynb: cell" in err[0] and "ValueError: boom" in err[0] and INDEX in err[0]
    timings = json.loads((out / TIMINGS).read_text())
    assert timings["profile"] == "ci" and timings["series"] == ["00_ok", "01_bad", "02_never"]
    assert set(timings["notebooks"]) == {"00_ok", "01_bad"} and all(s > 0 for s in timings["notebooks"].values())
    assert timings["total_s"] >= sum(timings["notebooks"].values()) and timings["failed"]["notebook"] == "01_bad"
    assert timings["machine"]["profile_cpu_threads"] == 1 and len(timings["loadavg_after"]) == 3
    assert timings["jobs"] == 1 and timings["lane_threads"] is None  # one lane: the kernels' threads left as they are
    assert timings["lanes"]["01_bad"]["start_s"] >= timings["lanes"]["00_ok"]["end_s"]  # one after the other
    page = (out / INDEX).read_text()
    assert "<pre" in _section(page, "00_ok") and "hello ci" in _section(page, "00_ok")
    assert "ValueError: boom" in _section(page, "01_bad") and "not run" in page
    assert (out / "00_ok.html").is_file() and (out / "01_bad.html").is_file()


def test_a_run_on_lanes_shows_them_and_old_runs_do_not(run):
    old_page = write_index(run).read_text()
    assert "Lanes:" not in old_page and "lane (start-end)" not in old_page
    assert "the notebooks after it did not run" in old_page
    timings = json.loads((run / TIMINGS).read_text())
    timings |= {
        "jobs": 2,
        "lane_threads": 1,
        "lanes": {
            "00_overview": {"lane": 0, "start_s": 0.0, "end_s": 12.3},
            "01_probes": {"lane": 1, "start_s": 0.1, "end_s": 75.1},
            "02_search": {"lane": 0, "start_s": 12.4, "end_s": 16.9},
        },
    }
    (run / TIMINGS).write_text(json.dumps(timings))
    page = write_index(run).read_text()
    assert "Lanes: 2 (videonas reproduce --jobs 2)" in page and "on 1 torch thread(s)" in page
    assert "<th>lane (start-end)</th>" in page and "<td>2 (0-75 s)</td>" in page and "<td>1 (12-17 s)</td>" in page
    assert "no notebook started after it (the ones running beside it finished)" in page
    assert re.search(r"<td>03_later</td><td>.*not run.*</td><td>–</td><td>–</td></tr>", page)


def test_cells_under_one_heading_share_it_and_math_in_headings_reads_without_mathjax(tmp_path):
    md = nbformat.v4.new_markdown_cell
    nb = _notebook([md(r"# 04 · The gradient of $\alpha$"), md("## The error against $r$, drawn"),
                    _code("a", [_stream("first\n")], ("report",)), _code("b", [_stream("second\n")], ("report",))])
    nbformat.write(nb, tmp_path / "04_math.ipynb")
    page = write_index(tmp_path).read_text()
    assert page.count("<h3>The error against <i>r</i>, drawn</h3>") == 1  # two tagged cells, one heading
    assert page.index("first") < page.index("second")
    assert "04 · The gradient of <i>α</i></h2>" in page and "$" not in page.split("<body", 1)[-1]
