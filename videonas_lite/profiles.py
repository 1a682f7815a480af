"""Run profiles: ``ci`` / ``default`` / ``gpu`` / ``paper``, defined once and used by notebooks and the CLI.

A notebook's first cell (tagged ``parameters``) sets ``PROFILE`` and a few knobs; its second cell
calls :func:`resolve`, which returns the :class:`Profile` with the profile's knobs applied, checks the
notebook's own knobs (:func:`check_knobs`, by the rules of :data:`KNOB_RULES`) and rejects a bad value
with a one-line message naming it. Taught by notebook 00; every notebook's second cell uses it. Sizes:

* ``ci``      - the whole series in minutes on 2 CPU cores (CI).
* ``default`` - a laptop CPU during a class.
* ``gpu``     - one GPU; the embedded dataset at 112x112 crops.
* ``paper``   - the papers' own settings on UCF101, search and retrain: its shared fields hold Peng's (8 frames
  of 112x112, Ns=4, Nr=2), its ``pvnas_*`` fields PV-NAS's; every ``None`` field takes the paper's value from
  train/optim.py, train/retrain.py and nas/derived.py (README, "The papers' own settings").
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATASETS", "DEVICES", "KNOB_RULES", "PROFILES", "Profile", "check_knobs", "data_root", "get_profile", "resolve",
]  # fmt: skip

DATASETS = ("embedded", "ucf101", "hmdb51")
"""Where a profile's videos come from: the generated embedded dataset (data/synthetic.py) or one on disk."""
DEVICES = ("cpu", "cuda", "auto")
"""Where a run computes; ``auto`` takes CUDA when torch sees a GPU."""


@dataclass(frozen=True)
class Profile:
    """Every knob a notebook or a command may read. Units: frames, pixels, clips."""

    name: str
    # the dataset: "embedded" (generated mp4s, see data/synthetic.py) or "ucf101" / "hmdb51" on disk
    dataset: str = "embedded"
    synth_mode: str = "motion"
    synth_classes: int = 16
    synth_videos_per_class: int = 12
    synth_frames: int = 32
    synth_size: int = 64
    synth_actors: tuple[str, ...] = ("sweeper", "spinner", "twins", "faller")  # in the scene and the label
    seed: int = 0
    split: int = 1
    # clip sampling (Peng Sec. 2: Ns segments x Nr random frames)
    num_segments: int = 4
    frames_per_segment: int = 2
    # decoding and transforms: decode short side (None = native), crop, PV-NAS scale-jitter range
    decode_short_side: int | None = None
    crop_size: int = 56
    scale_jitter: tuple[int, int] | None = None
    # notebook 01's probe experiment (data/probes.py): a larger copy of the embedded dataset
    probe_videos_per_class: int = 40
    probe_epochs: int = 16
    # search networks (nas/networks.py): Peng's initial channels (the paper: 4) and PV-NAS's (the paper: 64)
    peng_channels: int = 4
    pvnas_channels: int = 8
    # the search (train/search.py): epochs (Peng: 50; PV-NAS: 80); the rest None/0/1/False = the papers'
    search_epochs: int = 20
    peng_plan: str = "nrr"  # Peng's search network, a letter per cell (n normal, r reduction)
    peng_zero_op: bool = True  # Zero in Peng's mixed edges (both papers); False: its weight held at 0 (README)
    search_weight_lr: float | None = None  # SGD on the weights (Peng 0.025, PV-NAS 0.1)
    search_arch_lr: float | None = None  # Adam on the alphas (Peng 3e-4, PV-NAS 1e-3)
    search_arch_weight_decay: float | None = None  # the alphas' Adam weight decay (Peng 1e-3, PV-NAS 0)
    search_warmup_epochs: int = 0  # weight-only epochs before the alphas move
    search_step_epochs: int | None = None  # the step schedule's period (PV-NAS's; None: a quarter of the epochs)
    search_draws: int = 1  # TSN draws of every video per search epoch
    search_batch_size: int | None = None  # the search's clips per batch (None: batch_size, which retraining reads)
    cache_clips: bool = False  # decode each video once, keep the frames in memory
    # retraining the derived network from scratch (train/retrain.py); None: the paper's setting
    retrain_epochs: int | None = None  # Peng 600 (DARTS's CIFAR recipe), PV-NAS 128
    retrain_lr: float | None = None  # SGD (Peng 0.025, PV-NAS 0.01)
    retrain_warmup_epochs: int | None = None  # linear warm-up (PV-NAS 16; Peng none)
    retrain_channels: int | None = None  # initial channels of the derived network (Peng 8, PV-NAS 64)
    retrain_drop_path: float | None = None  # drop-path probability (Peng 0, PV-NAS 0.1)
    retrain_dropout: float | None = None  # dropout before the classifier (Peng 0, PV-NAS 0.4)
    # PV-NAS's own values where they differ from the shared fields above (None: the shared field); only the
    # paper profile sets them, so that one profile runs each paper as written (its shared fields: Peng's)
    pvnas_search_epochs: int | None = None  # PV-NAS Sec. 4.2.1: 80
    pvnas_arch_lr: float | None = None  # Adam on a PV-NAS search's alphas (None: search_arch_lr, else PV-NAS's 1e-3)
    pvnas_arch_schedule: str | None = None  # that lr over the search: None, "constant" (PV-NAS) or "cosine" (optim.py)
    pvnas_zero_into_node0: bool = True  # Zero on node 0's two edges (PV-NAS); False: its weight held at 0 there
    pvnas_batch_size: int | None = None  # the search's clips per batch (PV-NAS: 32 per GPU)
    pvnas_scale_jitter: tuple[int, int] | None = None  # the search's short-side range (PV-NAS: [128, 164])
    pvnas_retrain_batch_size: int | None = None  # PV-NAS Sec. 4.2.2: 8 clips per GPU
    pvnas_retrain_scale_jitter: tuple[int, int] | None = None  # PV-NAS on UCF-101: [128, 256]
    # notebook 08's live run only: its one-level search's epochs (None: search_epochs; the warm-up keeps its share)
    # and the K of Fig. 5b it retrains (PV-NAS-L K = 1, PV-NAS-M K = 2); ci shortens both to fit its time budget
    pvnas_live_epochs: int | None = None
    pvnas_retrain_ks: tuple[int, ...] = (1, 2)
    # loading
    batch_size: int = 16
    num_workers: int = 0
    device: str = "cpu"
    cpu_threads: int | None = None  # torch's CPU threads for a search (None: torch's default)
    cell_timeout_s: int | None = None  # seconds a notebook cell may run before the runner stops it as hung (runner.py)

    @property
    def clip_frames(self) -> int:
        return self.num_segments * self.frames_per_segment

    def synth_config(self):
        """The :class:`~videonas_lite.data.synthetic.SynthConfig` of this profile's embedded dataset."""
        from videonas_lite.data.synthetic import SynthConfig

        return SynthConfig(
            mode=self.synth_mode,
            classes=self.synth_classes,
            videos_per_class=self.synth_videos_per_class,
            frames=self.synth_frames,
            size=self.synth_size,
            seed=self.seed,
            actors=self.synth_actors,
        )

    def dataset_dir(self, config=None) -> Path:
        """Where this profile's data lives (the embedded dataset is generated there on first use).

        ``config`` names another embedded dataset (e.g. the probe's larger copy) in the same place.
        """
        from videonas_lite.data.synthetic import SynthConfig

        if self.dataset == "embedded" or config is not None:
            c = config or self.synth_config()
            tag = f"{c.mode}-c{c.classes}-v{c.videos_per_class}-t{c.frames}-s{c.size}-seed{c.seed}"
            if c.actors != SynthConfig().actors:
                tag += "-" + "+".join(c.actors)
            return data_root() / "embedded" / tag
        return data_root() / self.dataset


# The teaching recipe of ``ci`` and ``default`` (benchmarks/recipe.py measured each lever; README, "A
# search that learns in class time"): two actors (4 classes), clips of 4 segments x 1 frame (TSN's own
# sampling), cached in memory and decoded at 16 px, the reduction cell first ("rnr"), SGD at 0.1 on the
# weights, Adam at 1e-2 without weight decay (PV-NAS's) on the alphas, the alphas frozen for the first
# third of the epochs, two TSN draws per video and epoch, one CPU thread.
TEACHING = dict(
    synth_classes=4, synth_actors=("sweeper", "twins"), synth_videos_per_class=160, synth_frames=16,
    synth_size=32, frames_per_segment=1, decode_short_side=16, crop_size=16, cache_clips=True, peng_plan="rnr",
    pvnas_channels=4, search_weight_lr=0.1, search_arch_lr=1e-2, search_arch_weight_decay=0.0, search_draws=2,
    batch_size=16, cpu_threads=1, retrain_lr=0.025, retrain_warmup_epochs=0, retrain_channels=8,
    retrain_drop_path=0.0, retrain_dropout=0.0,
)  # fmt: skip

# ``default`` departs from it on the task and the alphas' step: 8 classes (the faller's SpeedUp/SlowDown added
# to the sweeper and the twins, 3 actors; the same 640 videos) and Adam at 2e-2 on the alphas. On 4 classes the
# alpha half is solved by epoch 7 and the alphas stall near uniform (5, 5 and 10 of 16 kept edges at 2/|O| over
# three seeds); on 8 it is not, and 14, 15 and 14 of 16 were, every miss an edge where Zero weighs most
# (benchmarks/recipe.py, README). ``ci`` keeps the 4-class task: it learns to 2x chance in the fewest steps,
# which is all its 2-minute budget asks.
DEFAULT_TASK = dict(
    synth_classes=8, synth_actors=("sweeper", "twins", "faller"), synth_videos_per_class=80, search_arch_lr=2e-2,
)  # fmt: skip

# ``ci`` departs from it on the search's batch: 32 clips per step with both learning rates doubled (SGD 0.2, Adam
# 2e-2). At these clip sizes a step's cost is mostly per-op overhead, so doubling the batch does not double the
# step: 8 epochs took 94-99 s against 127-139 s with batches of 16, learning to 0.59-0.69 (2x chance: 0.50) over
# three seeds (benchmarks/recipe.py, ``ci-batch-32*``; on today's bytes 0.84, 0.61, 0.52, and 0.59, 0.80, 0.54 on
# another host's CPU: ``profile-ci-earlier-host*``, ``profile-ci*``).
# Retraining keeps ``batch_size``.
CI_SEARCH = dict(search_batch_size=32, search_weight_lr=0.2, search_arch_lr=2e-2)

PROFILES: dict[str, Profile] = {
    # retrain_*: Peng's lr, channels and no warm-up, a few epochs (benchmarks/retrain_recipe.py measured them)
    # cell_timeout_s: about 5x the longest cell measured on 2 cores (ci: notebook 05's search, 100-130 s; default:
    # 07's retraining of four contenders x three seeds, 598 s); gpu and paper cells run for hours: no limit there
    "ci": Profile(name="ci", **{**TEACHING, **CI_SEARCH}, probe_epochs=12, search_epochs=8, search_warmup_epochs=3,
                  retrain_epochs=2, pvnas_live_epochs=2, pvnas_retrain_ks=(1,), cell_timeout_s=600),
    # default's Peng search: Zero held out and 24 epochs (8 frozen). With Zero, the derivation keeps Zero-heavy edges
    # into node 0 (2 inputs, both kept) and the chosen op weighs under 2/|O| there: 10 of 16 kept edges at 2/8 in 24
    # epochs, 14, 12, 14 in 16; without it 16 of 16 on seeds 0, 1, 2 at 2/7, accuracy 0.92, 0.75, 1.00 in 493-511 s
    # (recipe.py default-no-zero-24-epochs*, default-with-zero-24-epochs; README). Its PV-NAS search keeps Zero and
    # 16 epochs (pvnas_search_epochs; warm-up and step period keep their shares: 5 frozen, x0.1 after 8): a quarter
    # would decay before the alphas leave the warm-up (one-level: 0.98, 0.44, 0.76 against 0.41, 0.28;
    # recipe.py pvnas-one-level-step-*). Its alphas take Adam lr 1e-1: at 2e-2 the spatial cells stayed near uniform
    # (22, 17, 23 of 32 kept edges at 2/|O|), at 1e-1 31, 29, 29 of 32 (pvnas-one-level-arch-lr-*). That lr is
    # cosine-annealed over the 11 epochs the alphas move: held constant, they swung by whole logits between epochs
    # and the derived cell changed in every epoch (kept edges 30, 30, 28 of 32); annealed, it settled 1-3 epochs
    # before the end (30, 31, 31; recipe.py --profile default --space pvnas --order one-level, README). Every miss
    # left was an edge into node 0 or 1; node 0 keeps both its edges whatever they weigh, so Zero is held out of
    # those two edges only (pvnas_zero_into_node0; it stays on the other 12): 32, 31, 32 of 32 (the same command).
    # Fixing the derived edges for the last epochs (SearchConfig.fix_edges_at) was measured and not taken (README)
    "default": Profile(name="default", **{**TEACHING, **DEFAULT_TASK}, search_epochs=24, search_warmup_epochs=8,
                       search_step_epochs=12, peng_zero_op=False, pvnas_search_epochs=16, pvnas_arch_lr=1e-1,
                       pvnas_arch_schedule="cosine", pvnas_zero_into_node0=False, retrain_epochs=8,
                       cell_timeout_s=3000),
    "gpu": Profile(
        name="gpu",
        synth_videos_per_class=32,
        synth_size=128,
        crop_size=112,
        scale_jitter=(112, 144),
        batch_size=32,
        num_workers=8,
        device="cuda",
        pvnas_channels=16,
        search_epochs=50,
    ),
    # each paper as written, search and retrain (README, "The papers' own settings"): the shared fields are Peng's
    # (Peng states no search batch and no decode size: its retrain mini-batch of 72; 128 px), the pvnas_* fields
    # PV-NAS's; the None fields (both optimisers, the retrain recipe) come from the papers' tables
    "paper": Profile(
        name="paper",
        dataset="ucf101",
        decode_short_side=128,
        crop_size=112,
        batch_size=72,
        num_workers=8,
        pvnas_channels=64,
        search_epochs=50,
        device="cuda",
        pvnas_search_epochs=80,
        pvnas_batch_size=32,
        pvnas_scale_jitter=(128, 164),
        pvnas_retrain_batch_size=8,
        pvnas_retrain_scale_jitter=(128, 256),
    ),
}

_POSITIVE = (
    "synth_classes", "synth_videos_per_class", "synth_frames", "synth_size",
    "num_segments", "frames_per_segment", "crop_size", "batch_size", "probe_videos_per_class", "probe_epochs",
    "peng_channels", "pvnas_channels", "search_epochs", "search_draws",
)  # fmt: skip


def _validate(p: Profile) -> Profile:
    for name in _POSITIVE:
        value = getattr(p, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"profile {p.name!r}: {name} must be a positive integer, got {value!r}")
    if p.dataset not in DATASETS:
        raise ValueError(f"profile {p.name!r}: dataset must be 'embedded', 'ucf101' or 'hmdb51', got {p.dataset!r}")
    if p.split not in (1, 2, 3):
        raise ValueError(f"profile {p.name!r}: split must be 1, 2 or 3, got {p.split!r}")
    for name in ("cpu_threads",):
        value = getattr(p, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"profile {p.name!r}: {name} must be None or a positive integer, got {value!r}")
    if p.pvnas_live_epochs is not None and (not isinstance(p.pvnas_live_epochs, int) or p.pvnas_live_epochs < 2):
        raise ValueError(f"profile {p.name!r}: pvnas_live_epochs must be None or an integer >= 2 (a warm-up epoch "
                         f"and one with the alphas moving), got {p.pvnas_live_epochs!r}")  # fmt: skip
    ks = p.pvnas_retrain_ks
    distinct = isinstance(ks, tuple) and len(ks) > 0 and len(set(ks)) == len(ks)
    if not distinct or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise ValueError(f"profile {p.name!r}: pvnas_retrain_ks must be a tuple of distinct positive integers "
                         f"(the K of PV-NAS Fig. 5b), got {ks!r}")  # fmt: skip
    if p.cell_timeout_s is not None and (not isinstance(p.cell_timeout_s, int) or p.cell_timeout_s < 1):
        raise ValueError(f"profile {p.name!r}: cell_timeout_s must be None or a positive integer (seconds), "
                         f"got {p.cell_timeout_s!r}")  # fmt: skip
    if p.search_step_epochs is not None and (not isinstance(p.search_step_epochs, int)
                                             or isinstance(p.search_step_epochs, bool) or p.search_step_epochs < 1):
        raise ValueError(f"profile {p.name!r}: search_step_epochs must be None or a positive integer (epochs between "
                         f"the step schedule's decays), got {p.search_step_epochs!r}")  # fmt: skip
    if p.num_workers < 0:
        raise ValueError(f"profile {p.name!r}: num_workers must be >= 0, got {p.num_workers!r}")
    if p.dataset == "embedded":
        p.synth_config()  # validates mode, classes, sizes, actors with their own messages
        size = min(p.synth_size, p.decode_short_side or p.synth_size)
        if p.crop_size > size and p.scale_jitter is None:
            raise ValueError(f"profile {p.name!r}: crop_size {p.crop_size} exceeds the decoded video size {size}")
    if p.decode_short_side is not None and p.decode_short_side < p.crop_size:
        raise ValueError(
            f"profile {p.name!r}: decode_short_side {p.decode_short_side} is below crop_size {p.crop_size}"
        )
    for name in ("search_batch_size", "pvnas_search_epochs", "pvnas_batch_size", "pvnas_retrain_batch_size"):
        value = getattr(p, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"profile {p.name!r}: {name} must be None or a positive integer, got {value!r}")
    for name in ("search_epochs", "pvnas_search_epochs"):
        epochs = getattr(p, name)
        if epochs is not None and not 0 <= p.search_warmup_epochs < epochs:
            raise ValueError(f"profile {p.name!r}: search_warmup_epochs must be in [0, {name}={epochs}), "
                             f"got {p.search_warmup_epochs}")  # fmt: skip
    if set(p.peng_plan) - {"n", "r"} or not p.peng_plan:
        raise ValueError(f"profile {p.name!r}: peng_plan must be letters 'n' and 'r', got {p.peng_plan!r}")
    for name in ("search_weight_lr", "search_arch_lr", "pvnas_arch_lr"):
        value = getattr(p, name)
        if value is not None and not (isinstance(value, int | float) and value > 0):
            raise ValueError(f"profile {p.name!r}: {name} must be None or a positive number, got {value!r}")
    for name in ("peng_zero_op", "pvnas_zero_into_node0"):
        if not isinstance(getattr(p, name), bool):
            raise ValueError(f"profile {p.name!r}: {name} must be True or False, got {getattr(p, name)!r}")
    if p.pvnas_arch_schedule not in (None, "constant", "cosine"):
        raise ValueError(f"profile {p.name!r}: pvnas_arch_schedule must be None, 'constant' or 'cosine', "
                         f"got {p.pvnas_arch_schedule!r}")  # fmt: skip
    wd = p.search_arch_weight_decay
    if wd is not None and not (isinstance(wd, int | float) and not isinstance(wd, bool) and wd >= 0):
        raise ValueError(f"profile {p.name!r}: search_arch_weight_decay must be None or a number >= 0, got {wd!r}")
    for name in ("retrain_epochs", "retrain_channels"):
        value = getattr(p, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"profile {p.name!r}: {name} must be None or a positive integer, got {value!r}")
    for name in ("retrain_drop_path", "retrain_dropout"):
        value = getattr(p, name)
        if value is not None and not (isinstance(value, int | float) and 0 <= value < 1):
            raise ValueError(f"profile {p.name!r}: {name} must be None or in [0, 1), got {value!r}")
    if p.retrain_lr is not None and not (isinstance(p.retrain_lr, int | float) and p.retrain_lr > 0):
        raise ValueError(f"profile {p.name!r}: retrain_lr must be None or a positive number, got {p.retrain_lr!r}")
    if p.retrain_warmup_epochs is not None and not (
        isinstance(p.retrain_warmup_epochs, int) and 0 <= p.retrain_warmup_epochs < (p.retrain_epochs or 2**31)
    ):
        raise ValueError(
            f"profile {p.name!r}: retrain_warmup_epochs must be None or in [0, retrain_epochs), "
            f"got {p.retrain_warmup_epochs!r}"
        )
    for name in ("scale_jitter", "pvnas_scale_jitter", "pvnas_retrain_scale_jitter"):
        jitter = getattr(p, name)
        if jitter is not None and not (p.crop_size <= jitter[0] <= jitter[1]):
            raise ValueError(f"profile {p.name!r}: {name} must satisfy crop_size <= low <= high, got {jitter!r}")
    if p.device not in DEVICES:
        raise ValueError(f"profile {p.name!r}: device must be 'cpu', 'cuda' or 'auto', got {p.device!r}")
    return p


def get_profile(name: str, **overrides) -> Profile:
    """The named profile with ``overrides`` applied, validated."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    fields = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown profile setting(s) {unknown}; known settings: {sorted(fields - {'name'})}")
    return _validate(dataclasses.replace(PROFILES[name], **overrides))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


KNOB_RULES: dict[str, Callable[[object], bool]] = {
    "an integer": _is_int,
    "a positive integer": lambda v: _is_int(v) and v >= 1,
    "None or a positive integer": lambda v: v is None or (_is_int(v) and v >= 1),
    "True or False": lambda v: isinstance(v, bool),
    "None or a path": lambda v: v is None or isinstance(v, str | os.PathLike),
}
"""What a notebook's own knob may hold, by the words of its error message (``NAME must be <rule>, got ...``)."""

Rule = str | tuple[str, Callable[[object], bool]]
"""A key of :data:`KNOB_RULES`, or ``(what it must be, test)`` for a knob no rule there fits."""


def check_knobs(knobs: Mapping[str, tuple[object, Rule]]) -> None:
    """Check a notebook's own knobs, ``{"NAME": (value, rule)}``; the first bad one raises a one-line ValueError.

    ``check_knobs({"SEED": (SEED, "an integer")})`` raises ``SEED must be an integer, got 1.5`` for ``SEED = 1.5``.
    """
    for name, (value, rule) in knobs.items():
        what, test = rule if isinstance(rule, tuple) else (rule, KNOB_RULES.get(rule))
        if test is None:
            raise ValueError(f"knob {name}: unknown rule {rule!r}; known rules: {list(KNOB_RULES)}")
        if not test(value):
            raise ValueError(f"{name} must be {what}, got {value!r}")


def resolve(profile: str, knobs: Mapping[str, tuple[object, Rule]] | None = None, **settings) -> Profile:
    """What a notebook's second cell calls: the profile with ``settings`` applied, the notebook's ``knobs`` checked.

    ``resolve(PROFILE, batch_size=BATCH_SIZE, knobs={"NODES": (NODES, "a positive integer")})``: profile
    ``settings`` that are ``None`` keep the profile's value (:func:`get_profile` checks the rest); ``knobs``
    are the notebook's own, checked by :func:`check_knobs` once the profile is known to be valid.
    """
    resolved = get_profile(profile, **{k: v for k, v in settings.items() if v is not None})
    check_knobs(knobs or {})
    return resolved


def data_root() -> Path:
    """``$VIDEONAS_DATA`` if set, else the repository's ``data/`` folder."""
    env = os.environ.get("VIDEONAS_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"
