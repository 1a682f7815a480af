"""viz/course.py: the course map names every notebook; the timetable never fails on missing measurements."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from videonas_lite.runner import notebook_paths
from videonas_lite.viz.course import NOT_MEASURED, PIPELINE, course_map, live_or_homework, notebook_times

NOTEBOOKS = ["00_overview", "01_segment_sampling", "02_2plus1d_operators"]


def test_every_notebook_after_the_overview_teaches_a_stage_of_the_map():
    named = {nb for _, _, notebooks in PIPELINE for nb in notebooks}
    course = {p.stem for p in notebook_paths()} - {"00_overview"}
    assert named == course
    source = course_map().source
    assert all(nb in source for nb in course)
    assert "rankdir=TB" in source


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_the_map_fits_a_page():
    svg = ET.fromstring(course_map().pipe(format="svg"))
    width_pt = float(svg.get("width").removesuffix("pt"))
    assert width_pt <= 6.5 * 72


def test_times_without_a_file_say_not_measured(tmp_path):
    table = notebook_times(NOTEBOOKS, path=tmp_path / "missing.json")
    assert list(table.columns) == ["ci (s)", "default (s)"]
    assert list(table.index) == [*NOTEBOOKS, "total"]
    assert (table == NOT_MEASURED).all().all()
    assert (live_or_homework(table) == NOT_MEASURED).all().all()


def test_times_read_one_profile_and_leave_the_other_unmeasured(tmp_path):
    path = tmp_path / "times.json"
    ci = {"notebooks": {"00_overview": 4.04, "01_segment_sampling": 95.0, "02_2plus1d_operators": 300},
          "total_s": 399.04, "machine": "2 cores", "loadavg": [1.0, 1.0, 1.0]}
    path.write_text(json.dumps({"ci": ci, "default": None}))
    table = notebook_times(NOTEBOOKS, path=path)
    assert table.loc["00_overview", "ci (s)"] == 4.0 and table.loc["total", "ci (s)"] == 399.0
    assert (table["default (s)"] == NOT_MEASURED).all()
    assert table.attrs["machine"] == {"ci": "2 cores", "default": None}
    plan = live_or_homework(table, limit_s=120)
    assert "total" not in plan.index
    assert list(plan["ci"]) == ["live", "live", "homework"]
    assert (plan["default"] == NOT_MEASURED).all()


def test_a_missing_notebook_time_is_not_measured_and_leaves_no_total(tmp_path):
    path = tmp_path / "times.json"
    path.write_text(json.dumps({"ci": {"notebooks": {"00_overview": 3.0}}}))
    table = notebook_times(NOTEBOOKS, path=path)
    assert table.loc["00_overview", "ci (s)"] == 3.0
    assert table.loc["01_segment_sampling", "ci (s)"] == NOT_MEASURED
    assert table.loc["total", "ci (s)"] == NOT_MEASURED


def test_bad_input_names_the_problem(tmp_path):
    path = tmp_path / "times.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        notebook_times(NOTEBOOKS, path=path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object keyed by profile"):
        notebook_times(NOTEBOOKS, path=path)
    with pytest.raises(ValueError, match="limit_s must be a positive"):
        live_or_homework(notebook_times(NOTEBOOKS, path=tmp_path / "none.json"), limit_s=0)
