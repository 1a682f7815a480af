"""The series on lanes (runner.run_series): dependencies respected, independent notebooks at once, a failure stops.

Real kernels on tiny generated notebooks that leave files behind: a notebook proves that another ran before it
by finding its file, and two notebooks prove that they ran at the same time by each waiting for the other's.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from videonas_lite.runner import KERNEL_NAME, NotebookFailed, critical_path, dependencies, notebook_paths, run_series

ROOT = Path(__file__).resolve().parents[1]
COURSE = notebook_paths(ROOT / "notebooks")
WAIT = 120  # seconds a notebook waits for another's file before it fails (kernels start slowly on busy cores)


def _wait_for(name: str) -> str:
    """Kernel code: poll for the file ``name`` in the marker folder, fail after WAIT seconds."""
    return (f"for _ in range({WAIT * 10}):\n    if (MARKS / {name!r}).exists():\n        break\n"
            f"    time.sleep(0.1)\nelse:\n    raise AssertionError('{name} never appeared')")  # fmt: skip


def _notebook(folder: Path, stem: str, marks: Path, body: list[str], after: list[str] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    if after is not None:
        nb.metadata.videonas = {"after": after}
    params = nbformat.v4.new_code_cell('PROFILE = "default"')
    params.metadata.tags = ["parameters"]
    setup = f"import json, os, time\nfrom pathlib import Path\nMARKS = Path({str(marks)!r})"
    nb.cells = [params, nbformat.v4.new_code_cell(setup), *(nbformat.v4.new_code_cell(s) for s in body)]
    path = folder / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


def _stamp(name: str) -> str:
    """Kernel code: write the file ``name`` holding the time.time() of now."""
    return f"(MARKS / {name!r}).write_text(str(time.time()))"


def test_dependencies_are_respected_and_independent_notebooks_overlap(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    threads = "import torch\n(MARKS / 'threads').write_text(json.dumps([os.environ.get('OMP_NUM_THREADS'), " \
              "torch.get_num_threads()]))"  # fmt: skip
    # 00 and 01 each wait for the other's start: they pass only if they run at the same time
    first = [_stamp("00.start"), _wait_for("01.start"), "time.sleep(2)", _stamp("00.end"), threads]
    beside = [_stamp("01.start"), _wait_for("00.start"), _stamp("01.end")]
    # 02 reads what 00 left: it must start only after 00 ended, although a lane (01's) frees earlier
    reader = [_stamp("02.start"), "assert (MARKS / '00.end').exists(), 'ran before 00_first ended'"]
    paths = [
        _notebook(tmp_path, "00_first", marks, first),
        _notebook(tmp_path, "01_beside", marks, beside),
        _notebook(tmp_path, "02_after_first", marks, reader, after=["00_first"]),
    ]
    out = tmp_path / "run"
    done = run_series("ci", out, paths, html=False, jobs=2)
    assert {p.stem for p in done} == {"00_first", "01_beside", "02_after_first"}
    t = {f.name: float(f.read_text()) for f in marks.iterdir() if f.name != "threads"}
    assert t["00.start"] < t["01.end"] and t["01.start"] < t["00.end"]  # the two intervals overlap
    assert t["02.start"] > t["00.end"]
    timings = json.loads((out / "timings.json").read_text())
    assert timings["jobs"] == 2 and timings["after"]["02_after_first"] == ["00_first"]
    assert {timings["lanes"][s]["lane"] for s in ("00_first", "01_beside")} == {0, 1}
    lanes = timings["lanes"]
    assert lanes["02_after_first"]["start_s"] >= lanes["00_first"]["end_s"]
    # the series' wall time is less than the sum of the notebooks' (they ran at once), but at least the longest
    assert max(timings["notebooks"].values()) <= timings["total_s"] < sum(timings["notebooks"].values())
    # each lane's kernel got the cores shared out: one thread each on two cores
    env, torch_threads = json.loads((marks / "threads").read_text())
    assert env == str(max(1, (os.cpu_count() or 1) // 2)) and torch_threads == int(env)


def test_a_failure_stops_new_starts_and_running_notebooks_finish(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    paths = [
        _notebook(tmp_path, "00_fails", marks, [_stamp("00.start"), "raise ValueError('boom')"]),
        # runs beside 00 and ends well after 00 failed: it must finish, and its time is recorded
        _notebook(tmp_path, "01_running", marks, [_wait_for("00.start"), "time.sleep(6)", _stamp("01.end")]),
        _notebook(tmp_path, "02_never", marks, [_stamp("02.start")]),  # independent, but after the failure
    ]
    out = tmp_path / "run"
    with pytest.raises(NotebookFailed, match=r"00_fails\.ipynb: cell \d+ .*raised ValueError: boom"):
        run_series("ci", out, paths, html=False, jobs=2)
    assert (marks / "01.end").exists() and not (marks / "02.start").exists()
    timings = json.loads((out / "timings.json").read_text())
    assert timings["failed"]["notebook"] == "00_fails" and "ValueError: boom" in timings["failed"]["message"]
    assert set(timings["notebooks"]) == {"00_fails", "01_running"} and "02_never" not in timings["lanes"]
    assert not (out / "02_never.ipynb").exists()


def test_dependencies_must_name_earlier_notebooks(tmp_path):
    marks = tmp_path / "marks"
    first = _notebook(tmp_path, "00_a", marks, [], after=["01_b"])
    second = _notebook(tmp_path, "01_b", marks, [])
    with pytest.raises(ValueError, match=r"00_a\.ipynb: metadata videonas\.after names \['01_b'\], which do not"):
        dependencies([first, second])
    bad = _notebook(tmp_path, "02_c", marks, [], after="00_a")  # a string, not a list
    with pytest.raises(ValueError, match=r"02_c\.ipynb: metadata videonas\.after must be a list"):
        dependencies([first, bad])
    # a predecessor outside a partial series is dropped: the notebook falls back without it
    assert dependencies([second, _notebook(tmp_path, "03_d", marks, [], after=["01_b", "00_a"])]) == {
        "01_b": [], "03_d": ["01_b"]}  # fmt: skip
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        run_series("ci", tmp_path / "run", [second], html=False, jobs=0)


def test_the_course_declares_what_each_notebook_reads():
    """Every declared predecessor is an earlier course notebook; a notebook that reads another's run folder
    (``REPO / "runs" / profile.name / "NN_name"`` in its code) declares it, so no lane starts it too early."""
    stems = [p.stem for p in COURSE]
    declared = {p.stem: nbformat.read(p, as_version=4).metadata.get("videonas", {}).get("after", []) for p in COURSE}
    for stem, after in declared.items():
        assert all(d in stems[: stems.index(stem)] for d in after), f"{stem}: after {after} names no earlier notebook"
    reads = {}
    for path in COURSE:
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        reads[path.stem] = set(re.findall(r'"runs"\s*/\s*profile\.name\s*/\s*"(\d\d_\w+)"', code)) - {path.stem}
    for stem, read in reads.items():
        assert read <= set(declared[stem]), f"{stem} reads the run folders of {sorted(read)}, declares {declared[stem]}"
    assert reads["06_derive_and_render"] == {"05_search"}
    assert reads["07_retrain_and_evaluate"] == {"06_derive_and_render"}
    assert dependencies(COURSE) == declared


def test_the_longest_chain_of_work_starts_first():
    """critical_path: a notebook's seconds plus the longest chain waiting on it (by length where unmeasured)."""
    after = {"a": [], "b": [], "c": ["a"], "d": ["c", "b"]}
    assert critical_path(list(after), after, {"a": 10, "b": 30, "c": 5, "d": 20}) == {
        "a": 35.0, "b": 50.0, "c": 25.0, "d": 20.0}  # fmt: skip
    assert critical_path(list(after), after, {}) == {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}
    # the course on ci with the times last measured: 08 and the chain 05 -> 06 -> 07 lead, 00-04 fill in beside them
    stems = [p.stem for p in COURSE]
    chain = critical_path(stems, dependencies(COURSE), {s: 1.0 for s in stems} | {"05_search": 160, "08_pvnas": 300})
    assert sorted(stems, key=lambda s: -chain[s])[:2] == ["08_pvnas", "05_search"]
    assert chain["05_search"] == 162.0 and chain["06_derive_and_render"] == 2.0
