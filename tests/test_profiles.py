"""Profiles: defined once, validated, with clear messages for bad values."""

from __future__ import annotations

import pytest

from videonas_lite.profiles import PROFILES, get_profile, resolve


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_is_valid(name):
    p = get_profile(name)
    assert p.name == name and p.clip_frames == p.num_segments * p.frames_per_segment


def test_paper_profile_is_pengs_setting():
    p = get_profile("paper")
    assert (p.num_segments, p.frames_per_segment, p.crop_size, p.dataset) == (4, 2, 112, "ucf101")


def test_resolve_applies_knobs_and_ignores_none():
    p = resolve("ci", batch_size=3, crop_size=None)
    assert p.batch_size == 3 and p.crop_size == PROFILES["ci"].crop_size


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"search_batch_size": 0}, "search_batch_size must be None or a positive integer, got 0"),
        ({"crop_size": 40}, "crop_size 40 exceeds the decoded video size 16"),
        ({"split": 4}, "split must be 1, 2 or 3"),
        ({"synth_mode": "colour"}, "mode must be one of"),
        ({"device": "tpu"}, "device must be"),
        ({"bogus": 1}, r"unknown profile setting\(s\) \['bogus'\]"),
    ],
)
def test_bad_values_fail_with_a_message(knobs, message):
    with pytest.raises(ValueError, match=message):
        resolve("ci", **knobs)


def test_the_search_batch_is_its_own_and_retraining_keeps_batch_size():
    from videonas_lite.train.retrain import RetrainConfig
    from videonas_lite.train.search import SearchConfig

    ci = get_profile("ci")
    assert (ci.search_batch_size, ci.batch_size) == (32, 16)
    assert SearchConfig.from_profile(ci).batch_size == 32
    assert SearchConfig.from_profile(ci, "pvnas", "one-level").batch_size == 32
    assert RetrainConfig.from_profile(ci).batch_size == 16
    assert SearchConfig.from_profile(get_profile("default")).batch_size == 16  # None: batch_size
    assert SearchConfig.from_profile(get_profile("ci", pvnas_batch_size=8), "pvnas", "one-level").batch_size == 8


def test_unknown_profile():
    with pytest.raises(ValueError, match=r"unknown profile 'laptop'; choose one of"):
        get_profile("laptop")


def test_dataset_dir_names_the_config(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDEONAS_DATA", str(tmp_path))
    assert get_profile("ci").dataset_dir() == tmp_path / "embedded" / "motion-c4-v160-t16-s32-seed0-sweeper+twins"
    assert get_profile("paper").dataset_dir() == tmp_path / "ucf101"


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"SEED": (1.5, "an integer")}, "SEED must be an integer, got 1.5"),
        ({"SEED": (True, "an integer")}, "SEED must be an integer, got True"),
        ({"NODES": (0, "a positive integer")}, "NODES must be a positive integer, got 0"),
        ({"THREADS": (0, "None or a positive integer")}, "THREADS must be None or a positive integer, got 0"),
        ({"COST_STEPS": ("2", "None or a positive integer")}, "COST_STEPS must be None or a positive integer, got '2'"),
        ({"RESUME": ("yes", "True or False")}, "RESUME must be True or False, got 'yes'"),
        ({"RUN_DIR": (3, "None or a path")}, "RUN_DIR must be None or a path, got 3"),
        (
            {"COST_MODES": (["second"], ("a list of modes including 'first'", lambda v: "first" in v))},
            r"COST_MODES must be a list of modes including 'first', got \['second'\]",
        ),
        ({"X": (1, "an odd number")}, r"knob X: unknown rule 'an odd number'; known rules: \['an integer'"),
    ],
)
def test_a_notebooks_own_bad_knob_fails_with_one_line_naming_it(knobs, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        resolve("ci", knobs=knobs)


def test_good_knobs_pass_and_the_profile_is_checked_first(tmp_path):
    good = {
        "SEED": (-3, "an integer"), "NODES": (4, "a positive integer"), "THREADS": (None, "None or a positive integer"),
        "RESUME": (False, "True or False"), "RUN_DIR": (tmp_path, "None or a path"), "OUT": ("run", "None or a path"),
    }  # fmt: skip
    assert resolve("ci", batch_size=3, knobs=good).batch_size == 3
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        resolve("laptop", knobs={"SEED": (1.5, "an integer")})
