"""The teaching recipe's pieces: actors, clip cache, TSN draws, decoding at widths decord cannot, warm-up,
the deterministic evaluation, the cell plan, and every profile field read by the code it names."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY
from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.data.sampling import TSNSampler
from videonas_lite.data.synthetic import SynthConfig, class_names, ensure_dataset, generate, render_video
from videonas_lite.data.video import read_clip
from videonas_lite.nas import kernels
from videonas_lite.nas.bilevel import search_step
from videonas_lite.nas.cost import temporal_extent
from videonas_lite.nas.genotype import kept_edge_bars, kept_op_weights
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net
from videonas_lite.profiles import Profile, get_profile
from videonas_lite.train.optim import PAPERS, make_optimizers
from videonas_lite.train.search import SearchConfig, build_search, evaluate, run_search, search_data, search_optim

PACKAGE = Path(__file__).resolve().parents[1] / "videonas_lite"
TWO = dataclasses.replace(TINY, actors=("sweeper", "twins"))


def test_actors_pick_the_scene_and_the_label():
    assert class_names("motion", 4, TWO.factors) == ["LeftMeet", "LeftPart", "RightMeet", "RightPart"]
    with pytest.raises(ValueError, match=r"classes must be in \[2, 4\] for 2 actor"):
        SynthConfig(classes=5, actors=("sweeper", "twins"))
    with pytest.raises(ValueError, match="actors must be distinct names"):
        SynthConfig(actors=("sweeper", "dancer"))
    # one actor per class in a cell of its own: fewer actors, fewer coloured pixels
    all_four = render_video(TINY, 0, 0, 0).astype(float)
    two = render_video(TWO, 0, 0, 0).astype(float)
    assert two.std(axis=0).mean() < all_four.std(axis=0).mean()


def test_an_actor_subset_is_generated_once(tmp_path):
    root = ensure_dataset(tmp_path / "two", dataclasses.replace(TWO, videos_per_class=2), progress=False)
    manifest = json.loads((root / "videonas_synth.json").read_text())
    assert [f["actor"] for f in manifest["factors"]] == ["sweeper", "twins"]
    stamp = (root / "videonas_synth.json").stat().st_mtime_ns
    ensure_dataset(root, dataclasses.replace(TWO, videos_per_class=2), progress=False)  # tuples vs JSON lists
    assert (root / "videonas_synth.json").stat().st_mtime_ns == stamp, "regenerated a dataset that was up to date"


def test_cached_clips_equal_decoded_clips_and_draws_differ(tiny_dataset):
    kw = dict(sampler=TSNSampler(4, 2), seed=1)
    VideoClipDataset.decoded.clear()
    plain = VideoClipDataset.ucf101(tiny_dataset, 1, "train", **kw)
    cached = VideoClipDataset.ucf101(tiny_dataset, 1, "train", cache=True, draws=3, **kw)
    n = len(plain)
    assert len(cached) == 3 * n
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(n):
            assert torch.equal(plain[i][0], cached[i][0])
    assert len(VideoClipDataset.decoded) == n  # every video decoded once
    draws = [cached.load_frames(i + d * n)[1] for d in range(3) for i in range(n)]
    assert len({tuple(d) for d in draws}) > n, "three draws of every video gave the same frames"


def test_caching_datasets_share_one_decode_per_file_and_setting(tiny_dataset, tmp_path, monkeypatch):
    """Two caching datasets over the same videos decode each once; another short side, or a file rewritten
    in place, decodes again; past max_bytes the oldest entries go."""
    import videonas_lite.data.datasets as datasets_module

    calls = []
    real = datasets_module.read_clip
    monkeypatch.setattr(datasets_module, "read_clip", lambda path, *a, **k: calls.append(path) or real(path, *a, **k))
    VideoClipDataset.decoded.clear()
    first = VideoClipDataset.ucf101(tiny_dataset, 1, "train", cache=True)
    second = VideoClipDataset.ucf101(tiny_dataset, 1, "train", cache=True, train=False, seed=3)
    n = len(first.records)
    for i in range(n):
        first.load_frames(i)
    assert len(calls) == n
    for i in range(n):
        assert np.array_equal(second.load_frames(i)[0], read_clip(second.records[i].path, second.load_frames(i)[1])[0])
    assert len(calls) == n, "the second dataset decoded again"
    VideoClipDataset.ucf101(tiny_dataset, 1, "train", cache=True, short_side=16).load_frames(0)
    assert len(calls) == n + 1 and len(VideoClipDataset.decoded) == n + 1

    video = tmp_path / "v.mp4"
    video.write_bytes(first.records[0].path.read_bytes())
    store = datasets_module.DecodedVideos(max_bytes=10**9)
    a = store.get(video, (None,), lambda: np.zeros(3))
    assert store.get(video, (None,), lambda: np.ones(3)) is a
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert store.get(video, (None,), lambda: np.ones(3))[0] == 1, "a rewritten file must be decoded again"
    small = datasets_module.DecodedVideos(max_bytes=20)
    for k in range(3):
        small.get(video, (k,), lambda: np.zeros(2))  # 16 bytes each
    assert len(small) == 1 and small.nbytes == 16
    VideoClipDataset.decoded.clear()


@pytest.mark.parametrize("width", [16, 24])
def test_decoding_to_a_width_decord_cannot_handle(tiny_dataset, width):
    """decord 0.6.0 mis-sizes rows at 16/24/48/72 px: such sizes are decoded natively and shrunk in torch."""
    video = next(tiny_dataset.glob("*/*.mp4"))
    frames, _ = read_clip(video, [0, 5, 11], short_side=width)
    full, _ = read_clip(video, range(12))
    assert frames.shape == (3, width, width, 3) and frames.dtype == np.uint8
    shrunk = torch.nn.functional.interpolate(torch.from_numpy(full[[0, 5, 11]]).permute(0, 3, 1, 2).float(),
                                             size=(width, width), mode="bilinear", antialias=True)  # fmt: skip
    assert np.abs(frames.astype(float) - shrunk.permute(0, 2, 3, 1).numpy()).max() <= 0.5 + 1e-3


def test_arch_step_false_is_a_weight_step_only(one_thread):
    torch.manual_seed(0)
    model = peng_search_net(3, channels=2, nodes=2)
    sgd, adam = make_optimizers(model, PAPERS["peng"])
    batch = (torch.randn(2, 3, 4, 8, 8), torch.tensor([0, 2]))
    alphas = [a.detach().clone() for a in model.arch_parameters()]
    weights = [w.detach().clone() for w in model.weight_parameters()]
    losses = search_step(model, "first", batch, batch, sgd, adam, arch_step=False)
    assert set(losses) == {"train"}
    assert all(torch.equal(a, b) for a, b in zip(alphas, model.arch_parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(weights, model.weight_parameters(), strict=True))


def test_the_plan_spells_the_cells():
    net = peng_search_net(4, channels=2, plan="rnr")
    assert [c.reduction for c in net.cells] == [True, False, True]
    assert [s.kind for s in net.plan] == ["reduce", "normal", "reduce"]
    assert [s.reduction for s in peng_search_net(4, channels=2).plan] == [False, True, True]  # Peng: nrr
    with pytest.raises(ValueError, match="plan must be a non-empty string"):
        peng_search_net(4, plan="nx")


CONFIG = SearchConfig(
    epochs=3, batch_size=2, channels=2, crop_size=16, num_segments=2, frames_per_segment=2,
    plan="rnr", weight_lr=0.05, arch_lr=3e-3, warmup_epochs=2, draws=2, cache=True, short_side=16,
)  # fmt: skip


def test_warm_up_freezes_the_alphas_then_they_move(tiny_dataset, tmp_path, one_thread):
    records = run_search(CONFIG, tiny_dataset, tmp_path, progress=False)
    frozen = [r["alphas_frozen"] for r in records]
    assert frozen == [True, True, False]
    w = [np.asarray(r["alpha_softmax"]["normal"]) for r in records]
    assert np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])
    assert all(("val_loss" in r) != r["alphas_frozen"] for r in records)  # no architecture step while frozen
    assert records[0]["lr"] == 0.05  # the rate the epoch used


def test_evaluation_is_deterministic_mixes_classes_and_leaves_the_model_alone(tiny_dataset, one_thread):
    data = search_data(CONFIG, tiny_dataset)
    torch.manual_seed(0)
    model = peng_search_net(data.num_classes, channels=2, plan="rnr")
    stem_bn = model.stem[1]
    before = stem_bn.running_mean.clone()
    first, second = evaluate(model, data.alpha_eval), evaluate(model, data.alpha_eval)
    assert first == second and model.training
    assert torch.equal(stem_bn.running_mean, before), "evaluation moved the stem BN's running averages"
    labels = data.dataset.labels()
    seen = [int(y) for _, ys in data.alpha_eval for y in ys]
    assert sorted(seen) == sorted(labels[data.halves[1]].tolist()), "every video of the alpha half, once"
    assert seen != sorted(seen), "videos in class order would give one-class batches"


def test_kept_op_weights_by_hand():
    weights = {"k": [[0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]]}  # edges (0,0), (1,0), (0,1)...
    genotype = {"k": [("A", 0, 0), ("B", 1, 0)]}
    assert kept_op_weights(weights, genotype, {"k": ("Zero", "A", "B")}) == {"k": [0.6, 0.6]}
    # edge (1, 0) with Zero held out (weight exactly 0): two ops mix there, so its bar is 2/2, the other's 2/3
    held = {"k": [[0.1, 0.6, 0.3], [0.0, 0.4, 0.6], [0.5, 0.25, 0.25]]}
    assert kept_edge_bars(held, genotype, {"k": ("Zero", "A", "B")}) == {"k": [(0.6, 2 / 3), (0.6, 1.0)]}


def test_temporal_extent_of_the_ops():
    assert [temporal_extent(n) for n in ("Conv_1", "Conv_3", "DilConv_3", "MPool_3", "Skip_Con", "Zero")] == [
        1, 3, 3, 3, 1, 0]  # fmt: skip
    assert temporal_extent("1x3x3 separable conv") == 1 and temporal_extent("3+1x1 temporal conv") == 3


def test_every_profile_field_is_read_by_the_code_it_names():
    """A field nothing reads is a knob that does nothing: each must be read by the package or a notebook.

    Reads inside profiles.py do not count (validation is not use), except ``synth_config``, which hands the
    ``synth_*`` fields to the dataset generator.
    """
    package = [p.read_text() for p in PACKAGE.rglob("*.py") if p.name != "profiles.py"]
    notebooks = [p.read_text() for p in (PACKAGE.parent / "notebooks").glob("*.ipynb")]
    source = "\n".join([*package, *notebooks, inspect.getsource(Profile.synth_config)])
    unread = [f.name for f in dataclasses.fields(Profile) if not re.search(rf"\.{f.name}\b", source)]
    assert unread == [], f"profile fields nothing reads: {unread}"


def test_profiles_reach_the_search():
    for name in ("ci", "default", "paper"):
        p = get_profile(name)
        c = SearchConfig.from_profile(p)
        assert (c.short_side, c.scale_jitter, c.split, c.num_workers, c.cache, c.draws) == (
            p.decode_short_side, p.scale_jitter, p.split, p.num_workers, p.cache_clips, p.search_draws)  # fmt: skip
        assert (c.plan, c.weight_lr, c.arch_lr, c.arch_weight_decay, c.warmup_epochs, c.step_epochs, c.zero_op) == (
            p.peng_plan, p.search_weight_lr, p.search_arch_lr, p.search_arch_weight_decay,
            p.search_warmup_epochs, p.search_step_epochs, p.peng_zero_op)  # fmt: skip
        pv = SearchConfig.from_profile(p, "pvnas", "one-level")
        assert pv.zero_op, "PV-NAS searches keep Zero"
        assert (pv.zero_into_node0, c.zero_into_node0) == (p.pvnas_zero_into_node0, True), "a PV-NAS field only"
        pvnas_lr = SearchConfig.from_profile(p, "pvnas", "one-level").arch_lr
        assert pvnas_lr == (p.pvnas_arch_lr or p.search_arch_lr), "a PV-NAS search's alpha lr is pvnas_arch_lr"
    paper = SearchConfig.from_profile(get_profile("paper"))
    assert (paper.plan, paper.weight_lr, paper.arch_lr, paper.arch_weight_decay, paper.warmup_epochs, paper.draws) == (
        "nrr", None, None, None, 0, 1)  # fmt: skip


def test_the_step_period_reaches_the_schedule_and_scales_with_the_epochs():
    """default's PV-NAS search decays the weights' lr after 8 of its 16 epochs, not after a quarter (README)."""
    profile = get_profile("default")
    config = SearchConfig.from_profile(profile, "pvnas", "one-level")
    # its own 16 epochs (pvnas_search_epochs) keep the shares of the peng search's 24: 8 frozen, x0.1 after 12
    assert (profile.search_epochs, profile.search_warmup_epochs, profile.search_step_epochs) == (24, 8, 12)
    assert (config.epochs, config.warmup_epochs) == (16, 5)
    assert (config.arch_lr, SearchConfig.from_profile(profile).arch_lr) == (0.1, 0.02)  # PV-NAS's own alpha lr
    assert (config.step_epochs, search_optim(config).step_epochs) == (8, 8)
    _, sgd, _, schedule = build_search(config, 8, torch.device("cpu"))
    rates = []
    for _ in range(config.epochs):
        rates.append(sgd.param_groups[0]["lr"])
        sgd.step()  # no gradients: moves nothing, keeps the scheduler's order check quiet
        schedule.step()
    assert rates == pytest.approx([0.1] * 8 + [0.01] * 8)
    # an epochs override keeps the period's share, as it keeps the warm-up's; an explicit period wins
    assert SearchConfig.from_profile(profile, "pvnas", "one-level", epochs=32).step_epochs == 16
    assert SearchConfig.from_profile(profile, "pvnas", "one-level", epochs=32).warmup_epochs == 11
    assert SearchConfig.from_profile(profile, "pvnas", "one-level", epochs=2).step_epochs == 1
    assert SearchConfig.from_profile(profile, "pvnas", "one-level", epochs=32, step_epochs=4).step_epochs == 4
    # unset (ci, paper): a quarter of the epochs, the paper's 20 of 80
    assert search_optim(SearchConfig.from_profile(get_profile("paper"), "pvnas", "one-level")).step_epochs == 20
    with pytest.raises(ValueError, match="search_step_epochs must be None or a positive integer"):
        get_profile("ci", search_step_epochs=0)


@pytest.mark.parametrize("decay, expected", [(None, 1e-3), (0.0, 0.0), (5e-4, 5e-4)])
def test_the_alphas_weight_decay_reaches_adam_zero_included(decay, expected):
    _, _, adam, _ = build_search(SearchConfig(arch_weight_decay=decay), 4, torch.device("cpu"))
    assert adam.param_groups[0]["weight_decay"] == expected  # None: Peng's 1e-3 (train/optim.py)
    with pytest.raises(ValueError, match="search_arch_weight_decay must be None or a number >= 0"):
        get_profile("ci", search_arch_weight_decay=-1.0)


def test_generate_writes_a_two_actor_dataset_the_search_reads(tmp_path, one_thread):
    root = generate(tmp_path / "d", dataclasses.replace(TWO, videos_per_class=4), progress=False)
    data = search_data(dataclasses.replace(CONFIG, epochs=1, warmup_epochs=0), root)
    assert data.num_classes == 4
    clips, _ = next(iter(data.weight))
    assert clips.shape == (2, 3, 4, 16, 16)


@pytest.mark.parametrize("make", [lambda: peng_search_net(4, channels=4, plan="rnr"),
                                  lambda: peng_search_net(4, channels=4), lambda: pvnas_search_net(4, channels=4)])
def test_no_conv_falls_back_to_3d_after_the_stem_or_a_reduction(make, monkeypatch, one_thread):
    """The stem's BN and strided ops return the default layout; left so, every later (2+1)D conv ran as a slow
    3D conv (a first-order step of the rnr network took 1.8 s instead of 1.1 s, batch 16 at 16 px)."""
    calls = []
    real = kernels.F.conv3d
    monkeypatch.setattr(kernels.F, "conv3d", lambda x, w, *a, **k: calls.append(tuple(w.shape)) or real(x, w, *a, **k))
    make()(torch.randn(2, 3, 4, 16, 16)).sum().backward()
    assert calls == []


def test_a_dataset_asked_for_twice_at_once_is_generated_once(tmp_path):
    """The second caller waits for the first and finds the dataset done (no second, racing generation)."""
    import fcntl
    import threading

    config = dataclasses.replace(TWO, videos_per_class=2)
    out = tmp_path / "d"
    with open(tmp_path / ".d.lock", "w") as lock:  # another process is generating
        fcntl.flock(lock, fcntl.LOCK_EX)
        waiter = threading.Thread(target=ensure_dataset, args=(out, config), kwargs={"progress": False})
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive(), "the second caller did not wait for the first"
        generate(out, config, progress=False)
        stamp = (out / "videonas_synth.json").stat().st_mtime_ns
    waiter.join(30)
    assert not waiter.is_alive()
    assert (out / "videonas_synth.json").stat().st_mtime_ns == stamp, "generated a second time"


def test_the_recipe_table_counts_kept_edges_at_twice_uniform(monkeypatch):
    """benchmarks/recipe.py's column "kept edges at 2/|O|" (README's recipe table), on a hand-made one-node cell."""
    import importlib.util

    monkeypatch.syspath_prepend(str(PACKAGE.parent / "benchmarks"))  # its harness module
    spec = importlib.util.spec_from_file_location("recipe_benchmark", PACKAGE.parent / "benchmarks" / "recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)  # also asserts that the default profile's task is the 8-class data it measured
    ops = ["Conv_1", "Conv_3", "SpeConv_3", "DilConv_3", "MPool_3", "APool_3", "Skip_Con", "Zero"]
    first = [0.1] * 8
    first[ops.index("Conv_3")] = 0.3  # at 2/|O| = 0.25 or more
    second = [0.125] * 8
    second[ops.index("Conv_1")] = 0.2  # chosen, but below 0.25
    cell = [["Conv_3", 0, 0], ["Conv_1", 1, 0]]
    result = {"final_alpha_softmax": {"normal": [first, second]}, "genotypes_last_3": [{"normal": cell}]}
    assert recipe.decisive_edges(result) == "1 of 2"
    assert recipe.decisive_edges({"genotypes_last_3": []}) == "not recorded"
    # Zero held at 0 (zero_op=False): |O| = 7, the bar 2/7 = 0.286, so 0.3 still counts and 0.28 would not
    first[ops.index("Zero")], second[ops.index("Zero")] = 0.0, 0.0
    assert recipe.decisive_edges(result) == "1 of 2"
    first[ops.index("Conv_3")] = 0.28
    assert recipe.decisive_edges(result) == "0 of 2"
