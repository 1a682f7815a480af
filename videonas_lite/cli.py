"""The ``videonas`` command: long runs outside the notebooks.

``videonas synth``      write the embedded dataset (real mp4 files, UCF101 layout) [01]
``videonas reproduce``  generate the profile's data, execute the notebook series with papermill, write the report [00]
``videonas report``     (re)build a run folder's course report, ``index.html`` [00]
``videonas probe``      frame-average vs frame-difference classifiers on a dataset (is time needed?) [01]
``videonas search``     a differentiable architecture search (first / second order, PV-NAS one-level) [05]
``videonas derive``     a search run's genotype: ``genotype.json`` and one SVG drawing per cell kind [06]
``videonas retrain``    the derived network of a genotype trained from scratch (records, checkpoints in a run) [07]
``videonas evaluate``   a retrained run scored: clip- and video-level accuracy, confusion matrix, size, FLOPs [07]
``videonas compare``    the searched network, hand-designed networks and random cells, one recipe, several seeds [07]

In brackets: the notebook that teaches what the command runs. Over 300 lines because each command is one
handler here (its arguments, its one-line summary) and the work itself lives in the modules it calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from videonas_lite.data import synthetic

if TYPE_CHECKING:
    import torch

    from videonas_lite.profiles import Profile
    from videonas_lite.train.distributed import Ranks

__all__ = ["main"]


def _synth(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(synthetic.SynthConfig)}
    config = synthetic.SynthConfig(**{k: v for k, v in vars(args).items() if k in fields})
    out = synthetic.generate(args.out, config)
    print(f"wrote {config.classes * config.videos_per_class} videos ({config.mode}) to {out}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    """``videonas reproduce``: the series, ``timings.json`` and the course report ``index.html`` [00]."""
    from videonas_lite.profiles import get_profile
    from videonas_lite.report import write_index
    from videonas_lite.runner import NotebookFailed, run_series

    profile = get_profile(args.profile)
    _profile_data(profile, None)  # the notebooks read the profile's data: generate it once, before them
    try:
        done = run_series(args.profile, args.out, html=not args.no_html, jobs=args.jobs)
    except NotebookFailed as err:
        try:
            report = f"report: {write_index(args.out)}"  # the report shows which notebook failed and where
        except ValueError:  # no executed copy to report on
            report = "no report"
        print(f"error: {str(err).splitlines()[0]} ({report})", file=sys.stderr)
        return 1
    index = write_index(args.out)
    timings = json.loads((Path(args.out) / "timings.json").read_text())
    print(f"executed {len(done)} notebooks into {args.out} in {timings['total_s']:.0f} s on {timings['jobs']} "
          f"lane(s); report: {index}")  # fmt: skip
    return 0


def _report(args: argparse.Namespace) -> int:
    """``videonas report``: (re)build a run folder's ``index.html`` from its executed notebooks [00]."""
    from videonas_lite.report import write_index

    index = write_index(args.run, args.out)  # a ValueError (no such run folder): main prints its one line
    print(f"wrote {index}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from videonas_lite.data.probes import run_probes

    bad = _checked(args.data, 1, args.on_bad_video, None)
    results = run_probes(args.data, features=args.features, epochs=args.epochs, seed=args.seed,
                         resolution=args.resolution, exclude=bad)  # fmt: skip
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _profile_data(profile: Profile, data: str | None) -> str | Path:
    """``--data``, or the profile's dataset folder (the embedded dataset generated there if missing)."""
    if data is not None:
        return data
    if profile.dataset == "embedded":
        synthetic.ensure_dataset(profile.dataset_dir(), profile.synth_config())
    return profile.dataset_dir()


def _checked(data: str | Path, split: int, policy: str, record_in: str | Path | None) -> dict[str, str]:
    """The up-front check of every video of the split (``data/check.py``), before the first epoch.

    ``policy`` ``"stop"``: one line per bad file on stderr, then a ``ValueError`` (exit 2) naming the count.
    ``"skip"``: the bad files are returned (``{path: problem}``) to be left out, and recorded in
    ``record_in/skipped_videos.json`` (count and names).
    """
    from videonas_lite.data.check import check_dataset
    from videonas_lite.train.runtime import atomic_write

    result = check_dataset(data, split)
    if not result.bad:
        return {}
    if policy == "stop":
        for path, problem in sorted(result.bad.items()):
            print(f"bad video: {path}: {problem}", file=sys.stderr)
        raise ValueError(f"{data}: {result.summary()} (listed above); repair or remove them, or pass "
                         "--on-bad-video skip to leave them out")  # fmt: skip
    where = ""
    if record_in is not None:
        Path(record_in).mkdir(parents=True, exist_ok=True)
        record = {"checked": result.checked, "count": len(result.bad), "videos": dict(sorted(result.bad.items()))}
        target = Path(record_in) / "skipped_videos.json"
        atomic_write(target, lambda p: p.write_text(json.dumps(record, indent=1) + "\n"))
        where = f"; listed in {target}"
    print(f"leaving out {len(result.bad)} of {result.checked} videos (--on-bad-video skip){where}", file=sys.stderr)
    return result.bad


def _join(device: str) -> Ranks:
    """torchrun's process group (train/distributed.py) when the command runs under it; one process otherwise."""
    from videonas_lite.train import distributed, runtime

    return distributed.init(runtime.torch_device(device))


def _checked_once(ranks: Ranks, data: str | Path, split: int, policy: str, record_in: str | Path | None):
    """:func:`_checked` on rank 0 alone (one check, one listing, one cache file), its answer given to every rank.

    Rank 0 also generates the profile's embedded dataset before it (``_profile_data``); the others wait here.
    """
    from videonas_lite.train import distributed

    if not ranks.distributed:
        return _checked(data, split, policy, record_in)
    outcome: tuple[str, object] = ("", None)
    if ranks.main:
        try:
            outcome = ("bad", _checked(data, split, policy, record_in))
        except ValueError as err:
            outcome = ("error", str(err))
    kind, value = distributed.all_gather(outcome)[0]
    if kind == "error":
        raise ValueError(value if ranks.main else f"rank 0 stopped: {value}")
    return value


def _set_threads(profile: Profile, device: torch.device) -> None:
    """The profile's torch CPU threads for a run on the CPU (small clips: one thread beat two; README, the recipe)."""
    if profile.cpu_threads is not None and device.type == "cpu":
        import torch

        torch.set_num_threads(profile.cpu_threads)


def _search(args: argparse.Namespace) -> int:
    from videonas_lite.profiles import get_profile
    from videonas_lite.train.search import SearchConfig, SearchDiverged, run_search

    profile = get_profile(args.profile)
    ranks = _join(args.device or profile.device)
    data = _profile_data(profile, args.data) if ranks.main else args.data or profile.dataset_dir()
    out = args.resume or args.out
    bad = _checked_once(ranks, data, profile.split, args.on_bad_video, out)
    config = SearchConfig.from_profile(
        profile, args.space, args.order, schedule=args.schedule, epochs=args.epochs, batch_size=args.batch_size,
        difference=args.difference, device=args.device, sharpness_clips=args.sharpness, early_stop=args.early_stop,
        exclude_videos=tuple(bad), zero_op=args.zero, fix_edges_at=args.fix_edges_at,
    )  # fmt: skip
    _set_threads(profile, config.torch_device())
    try:
        records = run_search(config, data, out, resume=bool(args.resume))
    except SearchDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if ranks.main:
        print(search_summary(records))
        print(f"records and checkpoint in {out}")
    return 0


def search_summary(records: list[dict]) -> str:
    """What a finished search shows: accuracy against chance, how strongly the kept ops were chosen, stability."""
    from videonas_lite.nas.genotype import kept_edge_bars
    from videonas_lite.viz.records import known_op_names

    last = records[-1]
    chance = 1 / last["classes"]
    genotype = {k: [tuple(e) for e in cell] for k, cell in last["genotype"].items()}
    kept = kept_edge_bars(last["alpha_softmax"], genotype, known_op_names())

    def bars(pairs: list[tuple[float, float]]) -> str:  # one bar, or the kind's and the higher one of Zero-free edges
        low, high = min(b for _, b in pairs), max(b for _, b in pairs)
        return f"{low:.3f}" if high == low else f"{low:.3f}, {high:.3f} on edges without Zero"

    stable = all(r["genotype"] == last["genotype"] for r in records[-3:])
    accuracies = " ".join(f"{r['val_acc']:.2f}" for r in records)
    lines = [
        f"{len(records)} epochs; alpha-half accuracy per epoch: {accuracies} "
        f"(chance {chance:.3f}; last {last['val_acc'] / chance:.1f}x chance)",
        *(f"{kind}: chosen ops on kept edges weigh {min(w for w, _ in p):.3f}..{max(w for w, _ in p):.3f} "
          f"(2/|O| = {bars(p)}); {sum(w >= b for w, b in p)} of {len(p)} at least 2/|O|" for kind, p in kept.items()),
        f"derived genotype over the last {min(3, len(records))} epochs: {'stable' if stable else 'changing'}; "
        f"parameter-free share {last['parameter_free_share']:.2f}",
    ]  # fmt: skip
    if "sharpness" in last:
        lines.append("dominant eigenvalue of the alpha Hessian per epoch: "
                     + " ".join(f"{r['sharpness']['eigenvalue']:.3g}" for r in records))  # fmt: skip
    if "early_stop" in last:
        stop = last["early_stop"]
        lines.append(f"DARTS-ES (k = {stop['k']}) stopped the search at epoch {stop['epoch']}; "
                     f"videonas derive takes the cell of epoch {stop['chosen_epoch']}")  # fmt: skip
    return "\n".join(lines)


def _derive(args: argparse.Namespace) -> int:
    """``videonas derive``: Peng Sec. 3 / PV-NAS Sec. 3.2.1's derivation of a run's epoch (notebook 06)."""
    import graphviz

    from videonas_lite.nas.cost import temporal_extent
    from videonas_lite.nas.genotype import from_run, parameter_free_share
    from videonas_lite.viz.cells import write_svgs

    genotype = from_run(args.run, args.epoch)  # a GenotypeError (ValueError): main prints its one line
    out = Path(args.out if args.out is not None else args.run)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [genotype.save(out / "genotype.json")]
        written += list(write_svgs(genotype, out).values())
    except OSError as err:
        print(f"error: {getattr(err, 'filename', None) or out}: cannot write ({err.strerror or err})", file=sys.stderr)
        return 1
    except graphviz.ExecutableNotFound:
        print(f"error: graphviz's dot program is not installed: wrote {out / 'genotype.json'} only", file=sys.stderr)
        return 1
    ops = [op for cell in genotype.values() for op, _, _ in cell]
    temporal = sum(temporal_extent(op) > 1 for op in ops)
    print(
        f"{genotype.space} genotype of {args.run} epoch {genotype.provenance['epoch']}: {len(genotype)} cells "
        f"({', '.join(genotype)}), {temporal} of {len(ops)} ops see several frames, parameter-free share "
        f"{parameter_free_share(genotype):.2f}; wrote {', '.join(p.name for p in written)} to {out}"
    )
    return 0


def _retrain(args: argparse.Namespace) -> int:
    """``videonas retrain``: Peng Sec. 3 / PV-NAS Sec. 4.2.2's training from scratch (notebook 07)."""
    from videonas_lite.nas.genotype import Genotype
    from videonas_lite.profiles import get_profile
    from videonas_lite.train.retrain import RetrainConfig, RetrainDiverged, run_retrain

    genotype = Genotype.load(args.genotype)  # a GenotypeError (ValueError): main prints its one line
    profile = get_profile(args.profile)
    ranks = _join(args.device or profile.device)
    data = _profile_data(profile, args.data) if ranks.main else args.data or profile.dataset_dir()
    knobs = ("epochs", "batch_size", "lr", "warmup_epochs", "channels", "layers", "k", "drop_path", "device")
    bad = _checked_once(ranks, data, profile.split, args.on_bad_video, args.out)
    config = RetrainConfig.from_profile(profile, genotype.space, exclude_videos=tuple(bad),
                                        **{k: getattr(args, k) for k in knobs})  # fmt: skip
    _set_threads(profile, config.torch_device())
    try:
        records = run_retrain(config, genotype, data, args.out, resume=args.resume)
    except RetrainDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not ranks.main:
        return 0
    last = records[-1]
    print(
        f"{genotype.space} derived network of {args.genotype}, {len(records)} epochs: test accuracy (one centred "
        f"clip) {last['test_acc']:.3f} (chance {1 / last['classes']:.3f}), train accuracy {last['train_acc']:.3f}; "
        f"records and checkpoint in {args.out}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """``videonas evaluate``: Peng's clip-level and PV-NAS's video-level protocol, with the cost (notebook 07)."""
    from videonas_lite.train.evaluate import evaluate_run

    parts = args.views.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--views: expected CLIPS,CROPS as two positive integers (e.g. 10,3), got {args.views!r}")
    clips, crops = (int(p) for p in parts)
    from videonas_lite.train.retrain import load_run

    _, config, _, state = load_run(args.run)  # a run that is not one: one line (ValueError)
    bad = _checked(args.data or state["data"], config.split, args.on_bad_video, None)
    result = evaluate_run(args.run, (clips, crops), args.data, args.out, exclude=bad)
    clip, video = result["clip"], result["video"]
    written = args.out or Path(args.run) / "evaluation.json"
    print(
        f"{args.run} epoch {result['epoch']}: clip top-1 {clip['top1']:.3f} top-5 {clip['top5']:.3f}; video top-1 "
        f"{video['top1']:.3f} top-5 {video['top5']:.3f} ({clips} clips x {crops} crops); {result['params']} "
        f"parameters, {result['size_mb']:.3f} MB, {result['flops_per_view'] / 1e9:.4f} GFLOPs per view; wrote {written}"
    )
    return 0


def _compare(args: argparse.Namespace) -> int:
    """``videonas compare``: Peng Table 2 / PV-NAS Table 3's comparison, mean and spread over seeds (notebook 07)."""
    from videonas_lite.nas.genotype import Genotype
    from videonas_lite.profiles import get_profile
    from videonas_lite.train.compare import markdown_table, run_compare
    from videonas_lite.train.retrain import RetrainConfig, RetrainDiverged

    genotype = Genotype.load(args.genotype)  # a GenotypeError (ValueError): main prints its one line
    profile = get_profile(args.profile)
    seeds, only = _int_list(args.seeds, "--seeds"), None if args.only is None else args.only.split(",")
    data = _profile_data(profile, args.data)
    knobs = ("epochs", "batch_size", "channels", "device")
    bad = _checked(data, profile.split, args.on_bad_video, args.out)
    config = RetrainConfig.from_profile(profile, genotype.space, exclude_videos=tuple(bad),
                                        **{k: getattr(args, k) for k in knobs})  # fmt: skip
    _set_threads(profile, config.torch_device())
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "func")}
    command = "videonas compare " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
    try:
        summary = run_compare(config, genotype, data, args.out, seeds, only, args.random_cells, command, profile.name)
    except RetrainDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(markdown_table(summary["rows"]), end="")
    print(f"{len(summary['rows'])} rows over seeds {args.seeds}; wrote {Path(args.out) / 'compare.json'} and "
          f"{Path(args.out) / 'compare.md'}")  # fmt: skip
    return 0


def _int_list(text: str, flag: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(f"{flag}: expected comma-separated integers (e.g. 0,1,2), got {text!r}")
    return [int(p) for p in parts]


def build_parser() -> argparse.ArgumentParser:
    """The ``videonas`` parser; every choice list is the package's own constant (these imports load torch)."""
    from videonas_lite.data.probes import FEATURES
    from videonas_lite.nas.bilevel import DIFFERENCES, ORDERS
    from videonas_lite.nas.genotype import SPACES
    from videonas_lite.profiles import DEVICES, PROFILES
    from videonas_lite.train.optim import SCHEDULES

    profile_help = f"one of {', '.join(PROFILES)} (profiles.py)"
    bad_video = dict(choices=("stop", "skip"), default="stop",
                     help="videos the up-front check finds unusable: stop before the first epoch (default), or "
                          "leave them out and list them in RUN/skipped_videos.json")  # fmt: skip
    parser = argparse.ArgumentParser(prog="videonas", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write the embedded dataset as mp4 files in UCF101's layout")
    defaults = synthetic.SynthConfig()
    s.add_argument("--out", required=True, help="output folder (replaced if it exists)")
    s.add_argument("--mode", choices=synthetic.MODES, default=defaults.mode)
    s.add_argument("--classes", type=int, default=defaults.classes, help=f"2..{synthetic.MAX_CLASSES}")
    s.add_argument("--videos-per-class", type=int, default=defaults.videos_per_class)
    s.add_argument("--frames", type=int, default=defaults.frames)
    s.add_argument("--size", type=int, default=defaults.size, help="frame height = width (even)")
    s.add_argument("--seed", type=int, default=defaults.seed)
    s.add_argument("--actors", nargs="+", default=list(defaults.actors), choices=[f.actor for f in synthetic.FACTORS],
                   help="the actors in the scene and in the label (the teaching profiles: sweeper twins)")
    s.set_defaults(func=_synth)

    r = sub.add_parser("reproduce", help="execute the notebook series with papermill")
    r.add_argument("--profile", default="default", help=profile_help)
    r.add_argument("--out", default=None, help="default: runs/<profile>")
    r.add_argument("--no-html", action="store_true", help="skip the HTML export")
    r.add_argument("--jobs", type=int, default=None,
                   help="notebooks executed at once, each after those it depends on (default: 2 on 2 or more "
                        "cores, else 1; 1: one after another, in order)")  # fmt: skip
    r.set_defaults(func=_reproduce)

    o = sub.add_parser("report", help="(re)build a run folder's course report, index.html")
    o.add_argument("--run", required=True, help="a folder written by videonas reproduce (e.g. runs/ci)")
    o.add_argument("--out", default=None, help="the page to write (default: RUN/index.html)")
    o.set_defaults(func=_report)

    p = sub.add_parser("probe", help="can order-free features classify this dataset? (frame average vs differences)")
    p.add_argument("--data", required=True, help="a dataset folder in UCF101 layout")
    p.add_argument("--features", nargs="+", choices=list(FEATURES), default=None, help="default: all")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int, default=32,
                   help="pixels the clips are area-averaged to first (default 32; the teaching profiles search at 16)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--on-bad-video", **bad_video)
    p.set_defaults(func=_probe)

    global_batch = ("clips per step, all processes together: under torchrun each of N processes takes "
                    "BATCH_SIZE / N (default: the profile's)")  # fmt: skip
    q = sub.add_parser("search", help="search a cell (records and checkpoints in the run folder)")
    q.add_argument("--space", choices=SPACES, default="peng")
    q.add_argument("--order", choices=ORDERS, default="first")
    q.add_argument("--schedule", choices=SCHEDULES, default=None, help="default: the paper's")
    q.add_argument("--profile", default="default", help=profile_help)
    q.add_argument("--data", default=None, help="dataset folder (default: the profile's, generated if embedded)")
    q.add_argument("--epochs", type=int, default=None, help="default: the profile's search_epochs")
    q.add_argument(
        "--difference",
        choices=DIFFERENCES,
        default=None,
        help="second order's HVP: central or forward difference, or exact (default: central, as DARTS)",
    )
    q.add_argument("--device", choices=DEVICES, default=None, help="default: the profile's")
    q.add_argument("--batch-size", type=int, default=None, help=global_batch)
    q.add_argument("--zero", action=argparse.BooleanOptionalAction, default=None,
                   help="Zero in every mixed edge (both papers) or, with --no-zero, its weight held at 0 (default: the "
                   "profile's; default holds it out of its peng search)")
    q.add_argument("--fix-edges-at", type=int, default=None, metavar="EPOCH",
                   help="from EPOCH on keep the edges derived the epoch before, Zero held out of them (default: "
                   "never, as the papers; measured in README and not taken)")
    q.add_argument("--sharpness", type=int, default=None, metavar="CLIPS",
                   help="record the dominant eigenvalue of the alpha Hessian on CLIPS clips every epoch (Zela 2020)")
    q.add_argument("--early-stop", type=int, default=None, metavar="K",
                   help="DARTS-ES: stop when the eigenvalue rose by 1/0.75 in K epochs; derive epoch i-K (needs "
                        "--sharpness)")  # fmt: skip
    q.add_argument("--out", default=None, help="run folder (default: runs/<profile>)")
    q.add_argument("--resume", default=None, metavar="RUN", help="continue the run in this folder")
    q.add_argument("--on-bad-video", **bad_video)
    q.set_defaults(func=_search)

    d = sub.add_parser("derive", help="a search run's genotype: genotype.json and one SVG per cell kind")
    d.add_argument("--run", required=True, help="a search run folder (records.json or checkpoint.pt)")
    d.add_argument("--epoch", type=int, default=None, help="the epoch to derive (default: the last recorded)")
    d.add_argument("--out", default=None, help="output folder (default: the run folder)")
    d.set_defaults(func=_derive)

    t = sub.add_parser("retrain", help="train a genotype's derived network from scratch (records, checkpoints)")
    t.add_argument("--genotype", required=True, help="a genotype.json (videonas derive writes one)")
    t.add_argument("--profile", default="default", help=f"data, batch size, seed and device: {profile_help}")
    t.add_argument("--data", default=None, help="dataset folder (default: the profile's, generated if embedded)")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--epochs", type=int, default=None, help="default: the paper's (Peng 600, PV-NAS 128)")
    t.add_argument("--batch-size", type=int, default=None, help=global_batch)
    t.add_argument("--lr", type=float, default=None, help="default: the paper's (Peng 0.025, PV-NAS 0.01)")
    t.add_argument("--warmup-epochs", type=int, default=None, help="default: the paper's (Peng 0, PV-NAS 16)")
    t.add_argument("--channels", type=int, default=None, help="initial channels (default: Peng 8, PV-NAS 64)")
    t.add_argument("--layers", type=int, default=None, help="Peng's depth (default 6)")
    t.add_argument("--k", type=int, default=None, help="PV-NAS's normal cells between reductions (default 1)")
    t.add_argument("--drop-path", type=float, default=None, help="default: the paper's (Peng 0, PV-NAS 0.1)")
    t.add_argument("--device", choices=DEVICES, default=None, help="default: the profile's")
    t.add_argument("--on-bad-video", **bad_video)
    t.set_defaults(func=_retrain)

    e = sub.add_parser("evaluate", help="score a retrained run: accuracy, confusion matrix, size, FLOPs")
    e.add_argument("--run", required=True, help="a retraining run folder (videonas retrain --out)")
    e.add_argument("--views", default="10,3", help="video-level views CLIPS,CROPS (default 10,3: PV-NAS's 30)")
    e.add_argument("--data", default=None, help="dataset folder (default: the run's)")
    e.add_argument("--out", default=None, help="JSON file to write (default: RUN/evaluation.json)")
    e.add_argument("--on-bad-video", **bad_video)
    e.set_defaults(func=_evaluate)

    c = sub.add_parser("compare", help="train the searched network, the baselines and random cells; a table")
    c.add_argument("--genotype", required=True, help="the searched genotype.json (videonas derive writes one)")
    c.add_argument("--profile", default="default", help=f"data, batch size and device: {profile_help}")
    c.add_argument("--data", default=None, help="dataset folder (default: the profile's, generated if embedded)")
    c.add_argument("--out", required=True, help="folder of the runs and of compare.json, compare.md (rerun: resumes)")
    c.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    c.add_argument("--epochs", type=int, default=None, help="every contender's (default: the paper's)")
    c.add_argument("--only", default=None, help="comma-separated contenders (searched, r3d_18, ..., random-0, ...)")
    c.add_argument("--random-cells", type=int, default=5, help="random cells of the space (default 5, PV-NAS)")
    c.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    c.add_argument("--channels", type=int, default=None, help="derived networks' initial channels (default: paper)")
    c.add_argument("--device", choices=DEVICES, default=None, help="default: the profile's")
    c.add_argument("--on-bad-video", **bad_video)
    c.set_defaults(func=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "out", "") is None and hasattr(args, "profile"):
        args.out = f"runs/{args.profile}"
    try:
        return args.func(args)
    except ValueError as err:  # bad values: one clear line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a run folder that cannot be written, a full disk: one line naming the file
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    finally:
        if "torch.distributed" in sys.modules:  # a search or retraining under torchrun: leave its process group
            from videonas_lite.train.distributed import shutdown

            shutdown()


if __name__ == "__main__":
    sys.exit(main())
