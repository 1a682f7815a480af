"""The embedded dataset: a procedurally generated action-recognition dataset written as real mp4 files.

Taught by notebook 01 (the scene, the factors, the probes). About 500 lines, one concept: the scene's
actors, their renderer, the encoder, the split lists and the manifest must change together, since the
manifest's generator hash (of this file) decides when a cached copy is stale.

Why it exists. The course must run end to end with nothing downloaded, through exactly the code
path that reads UCF101 (class folders, ``classInd.txt``, split lists, decord). So we write real
videos in UCF101's layout and let the rest of the package treat them like any other dataset.

The scene. A frame is split into a 2 x 2 grid of cells; each cell holds one *actor*, the cells
assigned at random per video. Behind them: a smooth random background texture, a small distractor
dot drifting in a random walk, per-frame brightness flicker and sensor noise. The four actors:

============  ======================================  ==================  ===================
actor         what it does                            motion-mode label   appearance-mode label
============  ======================================  ==================  ===================
sweeper       slides horizontally, constant speed     ``Left``/``Right``  ``Disc``/``Bar``
spinner       turns about its centre                  ``Cw``/``Ccw``      ``Triangle``/``Bar``
twins         two copies slide along a random axis    ``Meet``/``Part``   ``Diamond``/``Bar``
faller        moves up or down (random), ``s = t^2``  ``SpeedUp``/        ``Ring``/``Bar``
              or ``s = 1 - (1 - t)^2``                ``SlowDown``
============  ======================================  ==================  ===================

A class is one combination of the four binary factors (16 in all; ``classes=N`` keeps the first N
in ``itertools.product`` order), named by concatenation, e.g. ``RightCwMeetSpeedUp``.

``actors`` picks which actors are in the scene and in the label (default: all four). The teaching
profiles use ``actors=("sweeper", "twins")``: two translations, 4 classes (``LeftMeet``, ...), two of the
four cells empty. Measured in benchmarks/recipe.py: the small search network learns these two factors
in a few hundred steps, while the spinner's sense of rotation and the faller's acceleration need far
more (README, "A search that learns in class time").

*Motion mode* (default). The label is the four *time arrows*; shapes, colours, sizes, positions,
speeds, cells, background, noise and the distractor are drawn from one distribution for every
class. Flipping one factor is exactly time-reversing that actor's trajectory, and every trajectory's
parameters are drawn so that its reversal is equally likely (the faller's up/down is a fair coin).
Hence each actor visits the same multiset of states whatever the label: the frame average (actors
sit in disjoint cells, so it is the sum of per-actor averages) and a frame drawn at random have the
same distribution for every class. No order-free statistic can beat chance; the label lives only
in temporal order. Only the distractor can overlap an actor and break this by a few pixels.
What this does *not* cover: a frame at a known time ``t``. Knowing when a frame was taken is
temporal information, and progress shows in some states (the twins are closer at ``t = 0.6`` when
they meet than when they part), so a fixed-time frame leaks a little unless ``t = 0.5``; start
positions are therefore not identically distributed either (a Right sweep starts at the left end).
Equal multisets and equal start distributions cannot both hold without wrap-around motion.

*Appearance mode*. The same generator with the roles swapped: each actor's shape encodes the label
and its time arrow is a fair coin. One frame suffices, at the course's 16 px too: the two *looks* of a
factor are a compact shape and a long bar, drawn at twice motion mode's size (``APPEARANCE_SCALE``).
Motion mode's shape pairs (disc or square, diamond or cross, ...) were the label at first; their sprites
are 2-3 px across at 16 px, and notebook 01's single-frame probe read them at chance (0.28 at 16 px,
0.31 at 32 px, chance 0.25; 4 classes, sweeper and twins), as did the search. With the looks it reads
0.84 at 16 px (README, "The embedded dataset").

Horizontal flips. Mirroring swaps ``Left``/``Right`` and ``Cw``/``Ccw``, so a random horizontal flip
does *not* preserve motion-mode labels: the manifest records ``"hflip_preserves_label": false`` and
the transforms read it (appearance mode: true).

Determinism. Every video draws from ``numpy.random.default_rng([seed, mode, class, group, clip])``
(group-level style from ``[seed, group]``), and videos are rendered and encoded one at a time on one
thread with single-threaded libx264 and zero-filled allocations (:func:`encode_mp4`): same seed, same bytes,
same decoded frames.

Groups. As in UCF101, clips come in groups that share a style (background texture and tint, actor
colours) across all classes; a split's test groups never appear in its training list. Split ``k``
(1..3) tests a contiguous block of about 7/25 of the groups, as UCF101 does.
"""

from __future__ import annotations

import colorsys
import contextlib
import ctypes
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "APPEARANCE_SCALE",
    "FACTORS",
    "MANIFEST",
    "SynthConfig",
    "class_names",
    "encode_mp4",
    "ensure_dataset",
    "generate",
    "render_video",
]

GENERATOR_VERSION = 2
MANIFEST = "videonas_synth.json"
MODES = ("motion", "appearance")


@dataclass(frozen=True)
class Factor:
    """One binary factor of the label: which actor, its two time arrows, its two shapes and its two looks.

    ``shapes``: motion mode draws one of them at random (a nuisance). ``looks``: appearance mode's label,
    a compact shape or a bar, told apart in one 16 px frame.
    """

    actor: str
    arrows: tuple[str, str]
    shapes: tuple[str, str]
    looks: tuple[str, str]


FACTORS: tuple[Factor, ...] = (
    Factor("sweeper", ("Left", "Right"), ("disc", "square"), ("disc", "bar")),
    Factor("spinner", ("Cw", "Ccw"), ("triangle", "ell"), ("triangle", "bar")),
    Factor("twins", ("Meet", "Part"), ("diamond", "cross"), ("diamond", "bar")),
    Factor("faller", ("SpeedUp", "SlowDown"), ("ring", "bar"), ("ring", "bar")),
)
MAX_CLASSES = 2 ** len(FACTORS)
APPEARANCE_SCALE = 2.0
"""Appearance mode draws its actors this many times motion mode's size, so a look spans 4-6 px at 16 px."""


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the generated files (recorded in the manifest)."""

    mode: str = "motion"
    classes: int = 16
    videos_per_class: int = 12
    frames: int = 32
    size: int = 64
    seed: int = 0
    fps: int = 25
    clips_per_group: int = 2
    actors: tuple[str, ...] = tuple(f.actor for f in FACTORS)  # in the scene and in the label, in label order

    def __post_init__(self) -> None:
        object.__setattr__(self, "actors", tuple(self.actors))  # a list from JSON or a command line
        known = [f.actor for f in FACTORS]
        if not self.actors or len(set(self.actors)) != len(self.actors) or not set(self.actors) <= set(known):
            raise ValueError(f"actors must be distinct names among {known}, got {list(self.actors)}")
        checks = [
            (self.mode in MODES, f"mode must be one of {MODES}, got {self.mode!r}"),
            (
                2 <= self.classes <= 2 ** len(self.actors),
                f"classes must be in [2, {2 ** len(self.actors)}] for {len(self.actors)} actor(s), got {self.classes}",
            ),
            (self.videos_per_class >= 2, f"videos_per_class must be >= 2, got {self.videos_per_class}"),
            (self.frames >= 2, f"frames must be >= 2, got {self.frames}"),
            (self.size >= 16 and self.size % 2 == 0, f"size must be even and >= 16, got {self.size}"),
            (self.fps >= 1, f"fps must be >= 1, got {self.fps}"),
            (self.clips_per_group >= 1, f"clips_per_group must be >= 1, got {self.clips_per_group}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def groups(self) -> int:
        return math.ceil(self.videos_per_class / self.clips_per_group)

    @property
    def factors(self) -> tuple[Factor, ...]:
        """The label's factors, in label order (``actors``)."""
        by_actor = {f.actor: f for f in FACTORS}
        return tuple(by_actor[a] for a in self.actors)


def class_bits(index: int, num_factors: int = len(FACTORS)) -> tuple[int, ...]:
    """The factor values of class ``index`` (``itertools.product`` order, first factor slowest)."""
    return next(itertools.islice(itertools.product((0, 1), repeat=num_factors), index, None))


def class_names(mode: str = "motion", classes: int = MAX_CLASSES, factors: tuple[Factor, ...] = FACTORS) -> list[str]:
    """Class names in label order, e.g. ``LeftCwMeetSpeedUp`` (motion) or ``DiscTriangleDiamondRing``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    names = []
    for index in range(classes):
        bits = class_bits(index, len(factors))
        if mode == "motion":
            names.append("".join(f.arrows[b] for f, b in zip(factors, bits, strict=True)))
        else:
            names.append("".join(f.looks[b].title() for f, b in zip(factors, bits, strict=True)))
    return names


# ---------------------------------------------------------------------------------------------
# Shapes as signed distance functions (negative inside), in units of the actor's radius.
# ---------------------------------------------------------------------------------------------


def _box(u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


def _sdf(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if shape == "disc":
        return np.hypot(u, v) - 1.0
    if shape == "ring":
        return np.abs(np.hypot(u, v) - 0.7) - 0.3
    if shape == "square":
        return _box(u, v, 0.85, 0.85)
    if shape == "diamond":
        return (np.abs(u) + np.abs(v) - 1.1) / math.sqrt(2)
    if shape == "cross":
        return np.minimum(_box(u, v, 1.0, 0.33), _box(u, v, 0.33, 1.0))
    if shape == "bar":
        return _box(u, v, 1.0, 0.35)
    if shape == "triangle":  # pointing up (towards -v); max of three half-planes
        normals = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        return np.max([nu * u + nv * v for nu, nv in normals], axis=0) - 0.55
    if shape == "ell":  # an L: a tall bar on the left and a foot to the right
        return np.minimum(_box(u + 0.55, v, 0.35, 1.0), _box(u - 0.1, v - 0.65, 0.9, 0.35))
    raise ValueError(f"unknown shape {shape!r}")


@dataclass
class _Sprite:
    """One shape on one trajectory; coordinates are fractions of the frame (x right, y down)."""

    shape: str
    colour: np.ndarray  # (3,) in [0, 1]
    radius: float  # fraction of the frame
    x: np.ndarray  # (T,)
    y: np.ndarray  # (T,)
    angle: np.ndarray  # (T,) radians; increasing angle turns clockwise on screen (y points down)


def _coverage(sprite: _Sprite, size: int) -> np.ndarray:
    """Anti-aliased coverage (T, H, W) in [0, 1]: one pixel of linear ramp across the edge."""
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    dx = grid[None, None, :] - sprite.x[:, None, None].astype(np.float32)
    dy = grid[None, :, None] - sprite.y[:, None, None].astype(np.float32)
    cos, sin = np.cos(sprite.angle)[:, None, None], np.sin(sprite.angle)[:, None, None]
    u = (cos * dx + sin * dy) / sprite.radius  # rotate into the sprite's frame
    v = (-sin * dx + cos * dy) / sprite.radius
    distance_px = _sdf(sprite.shape, u, v) * sprite.radius * size
    return np.clip(0.5 - distance_px, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Drawing a scene. Actors are placed in a unit cell (coordinates in [0, 1]); _place maps the cell
# into one quarter of the frame.
# ---------------------------------------------------------------------------------------------


def _colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val))
    return np.asarray(rgb, dtype=np.float32)


def _ramp(t: np.ndarray, start: float, stop: float) -> np.ndarray:
    return start + (stop - start) * t


def _sweeper(rng: np.random.Generator, t: np.ndarray, arrow: int, radius: float):
    """``Left`` (0) or ``Right`` (1): the same segment, travelled one way or the other."""
    travel = rng.uniform(0.45, 0.6)
    centre = rng.uniform(0.5 - (0.5 - radius - travel / 2) * 0.9, 0.5 + (0.5 - radius - travel / 2) * 0.9)
    left, right = centre - travel / 2, centre + travel / 2
    x = _ramp(t, right, left) if arrow == 0 else _ramp(t, left, right)
    y = np.full_like(t, rng.uniform(radius + 0.05, 1 - radius - 0.05))
    angle = np.full_like(t, rng.uniform(0, 2 * math.pi))
    return [(x, y, angle)]


def _spinner(rng: np.random.Generator, t: np.ndarray, arrow: int, radius: float):
    """``Cw`` (0) or ``Ccw`` (1): a uniform start angle turned by +-turn over the clip."""
    # at most 0.8 pi: the worst TSN gap (5 of 15 steps of a 16-frame video) stays under the triangle's
    # 60-degree ambiguity, so the sense of rotation cannot alias
    turn = rng.uniform(0.5 * math.pi, 0.8 * math.pi)
    sense = 1 if arrow == 0 else -1  # angles grow clockwise on screen (y points down)
    angle = rng.uniform(0, 2 * math.pi) + sense * turn * t
    x = np.full_like(t, rng.uniform(0.4, 0.6))
    y = np.full_like(t, rng.uniform(0.4, 0.6))
    return [(x, y, angle)]


def _twins(rng: np.random.Generator, t: np.ndarray, arrow: int, radius: float):
    """``Meet`` (0) or ``Part`` (1): two copies whose distance shrinks or grows along a random axis."""
    near, far = rng.uniform(0.0, radius), rng.uniform(0.85, 0.95) - 2 * radius  # from overlapping to apart
    gap = _ramp(t, far, near) if arrow == 0 else _ramp(t, near, far)
    axis = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0.47, 0.53, size=2)
    ux, uy = math.cos(axis) * gap / 2, math.sin(axis) * gap / 2
    angle = np.full_like(t, rng.uniform(0, 2 * math.pi))
    return [(cx + ux, cy + uy, angle), (cx - ux, cy - uy, angle)]


def _faller(rng: np.random.Generator, t: np.ndarray, arrow: int, radius: float):
    """``SpeedUp`` (0, ``s = t^2``) or ``SlowDown`` (1, ``s = 1 - (1-t)^2``); up or down is a coin.

    SlowDown from B to A is SpeedUp from A to B played backwards, so with a fair up/down coin the
    two classes visit the same positions.
    """
    travel = rng.uniform(0.5, 0.6)
    top = 0.5 - travel / 2
    s = t**2 if arrow == 0 else 1 - (1 - t) ** 2
    start, stop = (top, top + travel) if rng.uniform() < 0.5 else (top + travel, top)
    y = _ramp(s, start, stop)
    x = np.full_like(t, rng.uniform(0.35, 0.65))
    angle = np.full_like(t, rng.uniform(0, 2 * math.pi))
    return [(x, y, angle)]


_ACTORS = {"sweeper": _sweeper, "spinner": _spinner, "twins": _twins, "faller": _faller}


def _style(config: SynthConfig, group: int) -> dict:
    """Group-level style, shared by every class and clip of a group (as UCF101's groups share a scene)."""
    rng = np.random.default_rng([config.seed, 7919, group])
    return {
        "texture": rng.uniform(0, 1, size=(5, 5, 3)).astype(np.float32),
        "tint": _colour(rng, (0.1, 0.5), (0.2, 0.45)),
        "contrast": float(rng.uniform(0.08, 0.2)),
        "actor_colours": [_colour(rng, (0.55, 1.0), (0.75, 1.0)) for _ in FACTORS],
    }


def _background(style: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth texture: the group's 5x5 random grid upsampled bilinearly, plus this clip's fine grain."""
    coarse = style["texture"]
    pos = np.linspace(0, coarse.shape[0] - 1, size)
    i0 = np.minimum(pos.astype(int), coarse.shape[0] - 2)
    f = (pos - i0)[:, None]
    rows = coarse[i0] * (1 - f)[..., None] + coarse[i0 + 1] * f[..., None]  # (size, 5, 3)
    smooth = rows[:, i0] * (1 - f.T)[..., None] + rows[:, i0 + 1] * f.T[..., None]  # (size, size, 3)
    grain = rng.normal(0, 0.02, size=(size, size, 1))
    return np.clip(style["tint"] + style["contrast"] * (smooth - 0.5) + grain, 0, 1).astype(np.float32)


def render_video(config: SynthConfig, class_index: int, group: int, clip: int) -> np.ndarray:
    """Render one video of class ``class_index`` as uint8 frames ``(T, H, W, 3)`` (no file written)."""
    if not 0 <= class_index < config.classes:
        raise ValueError(f"class_index must be in [0, {config.classes}), got {class_index}")
    rng = np.random.default_rng([config.seed, MODES.index(config.mode), class_index, group, clip])
    style = _style(config, group)
    bits = class_bits(class_index, len(config.factors))
    t = np.linspace(0.0, 1.0, config.frames)
    size = config.size

    sprites = []
    cells = rng.permutation(4)
    for k, factor in enumerate(config.factors):
        label_bit, coin = bits[k], int(rng.integers(2))
        motion = config.mode == "motion"
        arrow, shape = (label_bit, factor.shapes[coin]) if motion else (coin, factor.looks[label_bit])
        radius = rng.uniform(0.14, 0.18) if factor.actor != "twins" else rng.uniform(0.1, 0.12)
        drawn = radius / 2 * (1.0 if motion else APPEARANCE_SCALE)  # in frame units; the path keeps ``radius``
        ox, oy = 0.5 * (cells[k] % 2), 0.5 * (cells[k] // 2)
        for x, y, angle in _ACTORS[factor.actor](rng, t, arrow, radius):
            sprites.append(
                _Sprite(shape, style["actor_colours"][FACTORS.index(factor)], drawn, ox + x / 2, oy + y / 2, angle)
            )

    frames = np.repeat(_background(style, size, rng)[None], config.frames, axis=0)
    walk = rng.uniform(0.1, 0.9, size=2) + np.cumsum(rng.normal(0, 0.02, size=(config.frames, 2)), axis=0)
    distractor = _Sprite("disc", _colour(rng, (0.0, 0.4), (0.5, 0.9)), 0.03, walk[:, 0], walk[:, 1], t * 0)
    for sprite in [distractor, *sprites]:
        alpha = _coverage(sprite, size)[..., None]
        frames = frames * (1 - alpha) + sprite.colour * alpha
    flicker = 1 + rng.normal(0, 0.03, size=(config.frames, 1, 1, 1))
    noise = rng.normal(0, 0.015, size=frames.shape)
    return np.clip((frames * flicker + noise) * 255 + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Writing files in UCF101's layout.
# ---------------------------------------------------------------------------------------------


M_PERTURB = -6
"""glibc's ``mallopt`` parameter: fill each allocation with ``byte ^ 0xff`` (and each freed block with ``byte``)."""


@contextlib.contextmanager
def zeroed_allocations() -> Iterator[None]:
    """Within the block, memory from glibc's ``malloc`` comes zero-filled (``mallopt(M_PERTURB, 0xff)``).

    The encoder, on these small frames, reads memory it never wrote: the same frames gave different bytes
    whenever ``malloc`` handed it a reused block (1 to 13% of encodes of one 32 px video here, more under CPU
    load and with torch's threads in the process). ``MALLOC_PERTURB_=255``, which zero-fills every allocation,
    made 2000 encodes of 2000 under load identical, equal to the bytes fresh (zeroed) memory gives; 165 or 90
    made them all equal to the other variant. Outside glibc this does nothing.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        yield
        return
    before = int(os.environ.get("MALLOC_PERTURB_", "0") or 0) & 0xFF  # glibc has no getter: its start-up value
    mallopt(M_PERTURB, 0xFF)
    try:
        yield
    finally:
        mallopt(M_PERTURB, before)


def encode_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """H.264 (libx264, CRF 17, single thread), yuv420p, written atomically; reproducible bytes.

    Single-threaded and with zero-filled allocations (:func:`zeroed_allocations`), so that the same frames give
    the same bytes (tests/test_synthetic.py).
    """
    import av

    tmp = path.with_suffix(".part.mp4")
    with zeroed_allocations(), av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "17", "preset": "medium", "threads": "1"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)


def _video_name(name: str, group: int, clip: int) -> str:
    return f"v_{name}_g{group + 1:02d}_c{clip + 1:02d}.mp4"


def _jobs(config: SynthConfig) -> Iterator[tuple[int, int, int]]:
    for class_index in range(config.classes):
        for v in range(config.videos_per_class):
            yield class_index, v // config.clips_per_group, v % config.clips_per_group


def held_out_groups(groups: int, split: int) -> list[int]:
    """0-based test groups of split 1..3: a contiguous block of ~7/25 of the groups, as in UCF101."""
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split}")
    n_test = max(1, round(groups * 7 / 25))
    return sorted({((split - 1) * n_test + j) % groups for j in range(n_test)})


def _write_lists(out: Path, config: SynthConfig, names: list[str]) -> None:
    (out / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    for split in (1, 2, 3):
        held_out = set(held_out_groups(config.groups, split))
        train, test = [], []
        for class_index, group, clip in _jobs(config):
            rel = f"{names[class_index]}/{_video_name(names[class_index], group, clip)}"
            (test.append(rel) if group in held_out else train.append(f"{rel} {class_index + 1}"))
        (out / f"trainlist{split:02d}.txt").write_text("\n".join(train) + "\n")
        (out / f"testlist{split:02d}.txt").write_text("\n".join(test) + "\n")


def _source_digest() -> str:
    """A digest of this module's source: a cached dataset is regenerated whenever the generator changes."""
    return hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:12]


def _manifest(config: SynthConfig, names: list[str]) -> dict:
    return {
        "generator": "videonas_lite.data.synthetic",
        "version": GENERATOR_VERSION,
        "source_digest": _source_digest(),
        "config": asdict(config),
        "classes": names,
        "factors": [asdict(f) for f in config.factors],
        "hflip_preserves_label": config.mode == "appearance",
    }


def _check_decodable(path: Path, config: SynthConfig) -> None:
    """Read one written video back (``read_clip``: decord, PyAV at the widths decord cannot copy), so a dataset
    that cannot be read fails now, not mid-course."""
    from videonas_lite.data.video import VideoReadError, read_clip

    try:
        read_clip(path, range(config.frames))
    except VideoReadError as err:
        raise ValueError(f"size {config.size}: the videos cannot be read back: {err.problem}") from err


def generate(out: str | os.PathLike, config: SynthConfig, progress: bool = True) -> Path:
    """Write the dataset to ``out`` (replacing what is there) and return ``out``.

    Files appear atomically: the dataset is built in a sibling temporary folder and renamed into
    place, so an interrupted run never leaves a half-written dataset that looks complete.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    names = class_names(config.mode, config.classes, config.factors)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name in names:
            (staging / name).mkdir()
        jobs = [(config, c, g, k, str(staging / names[c] / _video_name(names[c], g, k))) for c, g, k in _jobs(config)]
        # One video at a time, on one thread: with rendering threads beside it libx264 was seen to write other
        # bytes for the same frames (the cause, found later: it reads memory it never wrote; see encode_mp4).
        bar = tqdm(total=len(jobs), desc=f"synth {config.mode}", unit="video", disable=not progress)
        for _, class_index, group, clip, path in jobs:
            encode_mp4(render_video(config, class_index, group, clip), Path(path), config.fps)
            bar.update()
        bar.close()
        _check_decodable(Path(jobs[0][4]), config)
        _write_lists(staging, config, names)
        (staging / MANIFEST).write_text(json.dumps(_manifest(config, names), indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def ensure_dataset(out: str | os.PathLike, config: SynthConfig, progress: bool = True) -> Path:
    """Return ``out``, generating it first unless its manifest records exactly ``config`` and this generator.

    Processes that ask for the same dataset at once take turns (a lock file beside ``out``): the first
    generates it, the others find it done. Two at once used to generate it twice, and (before :func:`encode_mp4`
    zero-filled the encoder's allocations) to different bytes for 133 of 640 videos.
    """
    import fcntl

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(f".{out.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = out / MANIFEST
        if manifest.is_file():
            recorded = json.loads(manifest.read_text())
            same_source = recorded.get("source_digest") == _source_digest()
            wanted = json.loads(json.dumps(asdict(config)))  # tuples read back as lists
            if same_source and recorded.get("version") == GENERATOR_VERSION and recorded.get("config") == wanted:
                return out
        return generate(out, config, progress=progress)
