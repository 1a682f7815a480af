"""viz/alphas.py: curves, heatmaps, GIF / jshtml, the kernel-free player (records: test_viz_records.py)."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from videonas_lite.nas.genotype import PARAMETER_FREE, derive_cell
from videonas_lite.train.search import SearchConfig, run_search
from videonas_lite.viz import alphas
from videonas_lite.viz.records import alpha_history, known_op_names, parameter_free_mass

from .test_viz_records import PENG, hand_records

TINY_SEARCH = SearchConfig(space="peng", order="first", epochs=2, batch_size=2, channels=2, crop_size=24,
                           num_segments=2, frames_per_segment=2)  # fmt: skip


@pytest.fixture(scope="module")
def searched(tiny_dataset, tmp_path_factory, one_thread):
    """A real two-epoch search on the tiny dataset: its run folder and records."""
    out = tmp_path_factory.mktemp("search")
    return out, run_search(TINY_SEARCH, tiny_dataset, out, progress=False)


def test_bad_scale_and_no_records_are_reported():
    with pytest.raises(ValueError, match="scale must be one of"):
        alphas.plot_alphas(hand_records(), scale="log")
    with pytest.raises(ValueError, match="at least one epoch record"):
        alphas.plot_curves([])


def test_real_records_are_distributions_matching_the_recorded_genotype(searched):
    out, records = searched
    history = alpha_history(out)
    assert len(records) == 2 and all(w.shape == (2, 14, 8) for w in history.weights.values())
    for kind, w in history.weights.items():
        np.testing.assert_allclose(w.sum(axis=2), 1.0, atol=1e-6)
        assert (w > 0).all()
        # rows and columns in the order the derivation reads: the last epoch re-derives the recorded genotype
        derived = derive_cell(torch.tensor(w[-1]), history.op_names[kind], history.nodes)
        assert [list(edge) for edge in derived] == records[-1]["genotype"][kind]
    mass = parameter_free_mass(history)
    assert all(m.shape == (2,) and ((0 < m) & (m < 1)).all() for m in mass.values())


def test_curves_plot_the_recorded_values_with_labels():
    records = hand_records()
    loss_ax, acc_ax = alphas.plot_curves(records, chance=0.25)
    lines = {line.get_label(): line for line in loss_ax.get_lines() + acc_ax.get_lines()}
    assert set(lines) == {"loss, weight half", "loss, alpha half", "accuracy, weight half", "accuracy, alpha half",
                          "chance"}  # fmt: skip
    assert list(lines["accuracy, alpha half"].get_ydata()) == [r["val_acc"] for r in records]
    assert list(lines["accuracy, weight half"].get_ydata()) == [r["train_acc"] for r in records]
    assert list(lines["loss, alpha half"].get_ydata()) == [r["val_eval_loss"] for r in records]
    assert list(lines["loss, weight half"].get_xdata()) == [0, 1, 2]
    assert list(lines["chance"].get_ydata()) == [0.25, 0.25]
    assert "alphas frozen" in loss_ax.get_legend_handles_labels()[1]  # the warm-up band
    plt.close("all")


def test_heatmap_has_fixed_colour_limits_and_op_names_as_columns():
    history = alpha_history(hand_records())
    fig = alphas.plot_alphas(history, epoch=1)
    heatmaps = [ax for ax in fig.axes if ax.get_images()]
    assert len(heatmaps) == 2
    for ax in heatmaps:
        assert ax.get_images()[0].get_clim() == (0.0, 1.0)
        assert [t.get_text() for t in ax.get_xticklabels()] == list(PENG)
        assert ax.get_images()[0].get_array().shape == (14, 8)
    assert "after epoch 1" in fig._suptitle.get_text()
    relative = alphas.plot_alphas(history, scale="relative")
    lo, hi = relative.axes[0].get_images()[0].get_clim()
    assert lo == -hi and hi == pytest.approx(np.abs(history.weights["normal"] - 1 / 8).max())
    plt.close("all")


def test_a_search_without_zero_is_drawn_against_uniform_over_the_other_seven():
    """zero_op=False holds Zero's column at 0: uniform is 1/7, and the relative heatmap leaves that column blank."""
    records = hand_records()
    zero = PENG.index("Zero")
    for r in records:
        for rows in r["alpha_softmax"].values():
            for row in rows:
                row[zero] = 0.0
                total = sum(row)
                row[:] = [w / total for w in row]
    history = alpha_history(records)
    image = alphas.plot_alphas(history, scale="relative", epoch=2).axes[0].get_images()[0]
    values = np.asarray(image.get_array().filled(np.nan), dtype=float)
    live = [k for k in range(len(PENG)) if k != zero]
    assert np.isnan(values[:, zero]).all()
    assert np.allclose(values[:, live], history.weights["normal"][2][:, live] - 1 / 7)
    assert image.get_clim()[1] == pytest.approx(np.abs(history.weights["normal"][..., live] - 1 / 7).max())
    free = [n for n in PENG if n != "Zero" and n in PARAMETER_FREE]
    assert alphas._uniform_free(history, "normal") == pytest.approx(len(free) / 7)
    plt.close("all")


def test_animation_gif_and_jshtml_have_one_frame_per_epoch(searched, tmp_path):
    _, records = searched
    anim = alphas.animate_alphas(records)
    assert len(list(anim.new_frame_seq())) == len(records)
    html = alphas.save_animation(anim, tmp_path / "run" / "alphas.gif")
    with Image.open(tmp_path / "run" / "alphas.gif") as gif:
        assert gif.n_frames == len(records)
    assert "<script" in html and len(set(re.findall(r"frames\[(\d+)\]\s*=", html))) == len(records)


def test_player_links_play_slider_and_stack_in_the_front_end(searched):
    from ipywidgets.widgets.widget import _instances
    from ipywidgets.widgets.widget_link import Link

    _, records = searched
    box = alphas.alpha_player(records, dpi=30)
    controls, stack = box.children
    play, slider = controls.children
    assert isinstance(stack, widgets.Stack) and len(stack.children) == len(records)
    assert all(isinstance(c, widgets.Image) and bytes(c.value).startswith(b"\x89PNG") for c in stack.children)
    assert slider.min == play.min == 0 and slider.max == play.max == len(records) - 1
    links = {
        (link.source[0].model_id, link.source[1], link.target[0].model_id, link.target[1])
        for link in _instances.values()
        if isinstance(link, Link)
    }
    assert (play.model_id, "value", slider.model_id, "value") in links
    assert (slider.model_id, "value", stack.model_id, "selected_index") in links


def test_op_names_of_both_papers_cell_kinds_and_a_four_kind_figure():
    names = known_op_names()
    assert names["normal"] == names["reduce"] == PENG
    assert {k: len(names[k]) for k in ("S-NC", "S-RC", "T-NC", "T-RC")} == {"S-NC": 6, "S-RC": 6, "T-NC": 8, "T-RC": 8}
    rng = np.random.default_rng(1)
    records = [{"alpha_softmax": {k: rng.dirichlet(np.ones(len(names[k])), 14).tolist() for k in names if "-" in k}}]
    fig = alphas.plot_alphas(records)
    assert [ax.get_title() for ax in fig.axes if ax.get_images()] == [
        f"cell kind {k!r}" for k in records[0]["alpha_softmax"]
    ]
    plt.close("all")


def test_parameter_free_plot_draws_share_and_mass():
    records = hand_records()
    for e, r in enumerate(records):
        r["parameter_free_share"] = 0.25 * e
    fig = alphas.plot_parameter_free(records)
    share_ax, mass_ax = fig.axes
    assert list(share_ax.get_lines()[0].get_ydata()) == [0.0, 0.25, 0.5]
    mass = parameter_free_mass(records)
    assert np.allclose(mass_ax.get_lines()[0].get_ydata(), mass["normal"])  # then its uniform level, dotted
    assert mass_ax.get_lines()[1].get_linestyle() == ":"
    plt.close(fig)
    del records[1]["parameter_free_share"]
    with pytest.raises(ValueError, match="parameter_free_share"):
        alphas.plot_parameter_free(records)


def test_heatmaps_fit_ten_inches_with_readable_labels():
    fig = alphas.plot_alphas(hand_records(), scale="relative")
    assert fig.get_size_inches()[0] <= 10
    for ax in fig.axes[:2]:  # the two heatmaps (their colour bars come after them)
        assert all(t.get_fontsize() >= 9 for t in [*ax.get_xticklabels(), *ax.get_yticklabels()])
    plt.close(fig)
