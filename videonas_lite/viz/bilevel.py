"""Figures and measured sentences of the bilevel gradient (Peng Eqs. 3-5). Notebook 04.

* :func:`plot_fd_error`: the finite-difference Hessian-vector product's relative error against the stencil
  distance ``r`` (Peng Eq. 5's central difference, and the forward one), on a smooth network and on the ReLU
  network, with the kinks inside the stencil (notebook 04, section 3);
* :func:`plot_step_cost`: the cost of one search step in each mode of ``train/stepcost.py``, measured against
  the pass-count prediction (section 4); the memory panel only where the caller says peaks are measurable;
* :func:`memory_problem`: why a run's CPU peak-memory rises cannot be read as live tensors (None if they can);
* :func:`cost_statements`: the sentences notebook 04 prints about those measurements, computed from them, so
  that no prose claims a ratio the run did not measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["FONT", "MEMORY_FLOOR_MIB", "WIDTH", "cost_statements", "memory_problem", "plot_fd_error", "plot_step_cost"]

WIDTH = 10.0
"""Inches: the widest figure of notebook 04 (it stays readable in a notebook column and the HTML report)."""

FONT = 9
"""The smallest font size of a legend or an annotation, in points."""

MEMORY_FLOOR_MIB = 4.0
"""A CPU peak rise below this many MiB is allocator granularity and memory already held, not live tensors."""

_STYLES = {"central": "-o", "forward": "-s"}
_DTYPE_COLOURS = {"float64": "tab:blue", "float32": "tab:orange"}


def _check_curves(radii: Sequence[float], curves: Mapping[tuple[str, str, str], Sequence[float]]) -> None:
    for key, errors in curves.items():
        if len(errors) != len(radii):
            raise ValueError(f"curve {key} has {len(errors)} errors, expected one per radius ({len(radii)})")
    needed = [("smooth", "float64", "central"), ("ReLU", "float64", "central")]
    missing = [k for k in needed if k not in curves]
    if missing:
        raise ValueError(f"curves lack {missing}: expected keys (network, dtype, difference) such as {needed}")


def plot_fd_error(
    radii: Sequence[float],
    curves: Mapping[tuple[str, str, str], Sequence[float]],
    kinks: Mapping[str, Mapping[str, Sequence[int]]],
    r_mark: float = 0.01,
) -> Figure:
    """Three panels: (a) the smooth network's error V, (b) the ReLU network's, (c) the kinks in the stencil.

    ``curves[(network, dtype, difference)]`` holds one relative error per radius (``network`` "smooth" or
    "ReLU"; ``difference`` "central" or "forward"); ``kinks[difference][kind]`` the kinks of each kind ("ReLU",
    "max pool") inside the stencil per radius (``nas/finite_difference.kinks_crossed``). Guide lines of slope 2,
    1 and -1 are anchored at ``r_mark`` (DARTS's r = 0.01) and at the smallest radius.
    """
    _check_curves(radii, curves)
    r = np.asarray(radii, dtype=float)
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 4.8))
    ax = axes[0]
    for (net_name, dtype, diff), errors in curves.items():
        if net_name == "smooth":
            ax.loglog(r, errors, _STYLES[diff], color=_DTYPE_COLOURS.get(dtype, "k"), ms=3,
                      mfc="none" if diff == "forward" else None, label=f"{dtype}, {diff}")  # fmt: skip
    c64 = np.asarray(curves["smooth", "float64", "central"], dtype=float)
    i = int(np.argmin(np.abs(np.log(r / r_mark))))  # the radius closest to r_mark
    right = r >= r[i] / 10
    ax.loglog(r[right], c64[i] * (r[right] / r[i]) ** 2, "k--", lw=1, label="slope 2")
    if ("smooth", "float64", "forward") in curves:
        f64 = np.asarray(curves["smooth", "float64", "forward"], dtype=float)
        ax.loglog(r[right], f64[i] * (r[right] / r[i]), "k-.", lw=1, label="slope 1")
    left = r <= r[-1] * 1e4
    ax.loglog(r[left], c64[-1] * r[-1] / r[left], "k:", lw=1.5, label="slope -1")
    ax.set_title("(a) smooth net (Softplus)")
    ax = axes[1]
    for diff in ("central", "forward"):
        if ("ReLU", "float64", diff) in curves:
            ax.loglog(r, curves["ReLU", "float64", diff], _STYLES[diff], color="tab:red", ms=3,
                      mfc="none" if diff == "forward" else None, label=f"ReLU, {diff}")  # fmt: skip
    ax.loglog(r, c64, "-", color="tab:blue", alpha=0.4, label="smooth, central")
    ax.set_title("(b) ReLU net of section 1")
    for ax in axes[:2]:
        ax.set_xlabel("r")
        ax.legend(fontsize=FONT, handlelength=1.6, labelspacing=0.3, ncol=2, columnspacing=0.8,
                  loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below the axes: the curves fill them
    axes[0].set_ylabel("relative error of the HVP")
    ax = axes[2]
    for diff, table in kinks.items():
        for kind, colour in (("ReLU", "tab:red"), ("max pool", "tab:green")):
            if kind in table:
                ax.plot(r, np.asarray(table[kind]), _STYLES.get(diff, "-"), color=colour, ms=3,
                        mfc="none" if diff == "forward" else None, label=f"{kind}, {diff}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("r")
    ax.set_ylabel("kinks inside the stencil")
    ax.set_title("(c) kinks crossed")
    ax.legend(fontsize=FONT, handlelength=1.6, labelspacing=0.3)
    for ax in axes:
        ax.axvline(r_mark, color="grey", ls=":", lw=1)
    axes[0].annotate(f"r = {r_mark:g}", (r_mark, 0), xycoords=("data", "axes fraction"), xytext=(-3, 4), ha="right",
                     textcoords="offset points", fontsize=FONT, color="grey")  # fmt: skip
    fig.tight_layout()
    return fig


def plot_step_cost(cost, title: str = "", memory: bool = True) -> Figure:
    """One search step per mode: seconds, cost relative to a first-order step, and (``memory``) the peak rise.

    ``cost`` is notebook 04's table (a pandas DataFrame indexed by mode) with the columns "measured s",
    "measured / first", "predicted / first", "all-full count / first" and, when ``memory``, "peak MiB".
    """
    needed = ["measured s", "measured / first", "predicted / first", "all-full count / first"]
    needed += ["peak MiB"] if memory else []
    missing = [c for c in needed if c not in cost.columns]
    if missing:
        raise ValueError(f"the cost table lacks the column(s) {missing}; expected {needed}")
    panels = 3 if memory else 2
    fig, axes = plt.subplots(1, panels, figsize=(WIDTH if memory else WIDTH * 0.7, 3.4))
    x = np.arange(len(cost))
    axes[0].bar(x, cost["measured s"], color="tab:blue")
    axes[0].set_ylabel("seconds per step (median)")
    bars = [("measured / first", "tab:blue", "measured"), ("predicted / first", "tab:green", "predicted from passes"),
            ("all-full count / first", "tab:grey", "DARTS's all-full count")]  # fmt: skip
    for k, (col, colour, label) in enumerate(bars):
        axes[1].bar(x + (k - 1) * 0.27, cost[col], width=0.27, color=colour, label=label)
    axes[1].axhline(1, color="k", lw=0.8)
    axes[1].set_ylabel("cost / first-order step")
    tallest = np.nanmax(cost[["measured / first", "predicted / first", "all-full count / first"]].to_numpy(float))
    axes[1].set_ylim(0, 1.8 * tallest)  # room for the legend above the bars
    axes[1].legend(fontsize=FONT, loc="upper left")
    if memory:
        axes[2].bar(x, cost["peak MiB"], color="tab:purple")
        axes[2].set_ylabel("peak memory rise, MiB")
    for ax in axes:
        ax.set_xticks(x, cost.index, rotation=30, ha="right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def memory_problem(
    peaks_mib: Mapping[str, float],
    device: str,
    passes: Mapping[str, tuple[int, int] | None],
    floor_mib: float = MEMORY_FLOOR_MIB,
) -> str | None:
    """Why the measured peak rises of ``train/stepcost.measure_modes`` cannot be compared, or None if they can.

    On CUDA the peak is the allocator's own count: always readable. On a CPU it is the rise of the resident
    set's high-water mark, which follows the live tensors only when they are larger than what the process
    already holds: a rise under ``floor_mib``, or a mode that takes at least first order's passes
    (``passes``, ``stepcost.PASSES``) peaking below first order, says they were not.
    """
    if device.startswith("cuda"):
        return None
    low = {m: p for m, p in peaks_mib.items() if p < floor_mib}
    if low:
        listed = ", ".join(f"{m} {p:.0f} MiB" for m, p in low.items())
        return (f"on the CPU the peak is the rise of the resident set, and here some rises are under {floor_mib:g} "
                f"MiB ({listed}): the steps' tensors fit in memory the process already held, so the rises do not "
                f"follow the live tensors")  # fmt: skip
    base = passes.get("first")
    if "first" in peaks_mib and base is not None:
        below = [m for m, p in peaks_mib.items() if m != "first" and passes.get(m) is not None
                 and all(k >= b for k, b in zip(passes[m], base, strict=True)) and p < peaks_mib["first"]]  # fmt: skip
        if below:
            return (f"{', '.join(below)} take at least first order's passes yet peaked below it "
                    f"({peaks_mib['first']:.0f} MiB): the rises do not follow the live tensors")  # fmt: skip
    return None


def _verdict(measured: float, predicted: float, tolerance: float) -> str:
    deviation = measured / predicted - 1
    if abs(deviation) <= tolerance:
        return f"within {tolerance:.0%} of the prediction"
    return f"{'below' if deviation < 0 else 'above'} the prediction by {abs(deviation):.0%}"


def cost_statements(
    measured: Mapping[str, float],
    predicted: Mapping[str, float],
    passes: Mapping[str, tuple[int, int] | None],
    steps: int,
    tolerance: float = 0.1,
) -> list[str]:
    """Sentences about one run of notebook 04's section 4, each computed from its numbers.

    ``measured[mode]`` and ``predicted[mode]`` are seconds per step (``predicted`` NaN where no pass count
    exists), ``passes`` is ``stepcost.PASSES`` and ``steps`` the timed steps per mode. Every ratio is to the
    "first" mode. Modes with the same pass count as "first" measure this run's timing scatter: two steps of
    equal work; a deviation from the prediction no larger than that scatter is not read as a finding.
    """
    if "first" not in measured or "first" not in predicted:
        raise ValueError(f"the measurements need the 'first' mode to compare with, got {sorted(measured)}")
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    first_m, first_p = measured["first"], predicted["first"]
    lines = [f"first order: measured {first_m:.3f} s per step, predicted {first_p:.3f} s from the pass costs "
             f"({_verdict(first_m, first_p, tolerance)})"]  # fmt: skip
    scatter = [abs(measured[m] / first_m - 1) for m in measured
               if m != "first" and passes.get(m) is not None and passes.get(m) == passes["first"]]  # fmt: skip
    noise = max(scatter) if scatter else None
    for mode, seconds in measured.items():
        if mode == "first":
            continue
        ratio = seconds / first_m
        if passes.get(mode) is None or math.isnan(predicted.get(mode, math.nan)):
            lines.append(f"{mode} / first: measured {ratio:.2f}x (no pass count predicts this mode)")
            continue
        expected = predicted[mode] / first_p
        verdict = _verdict(ratio, expected, tolerance)
        line = f"{mode} / first: measured {ratio:.2f}x, predicted {expected:.2f}x: {verdict}"
        if passes[mode] == passes["first"]:
            line += " (the same passes as first order: the gap is timing scatter)"
        elif noise is not None and abs(ratio / expected - 1) <= noise:
            line += f", no larger than this run's timing scatter ({noise:.0%}), so not a finding"
        elif noise is not None:
            line += f", larger than this run's timing scatter ({noise:.0%})"
        lines.append(line)
    first_dev = first_m / first_p - 1
    if abs(first_dev) > tolerance:
        lines.append(f"every measured ratio divides by the measured first-order step, which came out "
                     f"{abs(first_dev):.0%} {'above' if first_dev > 0 else 'below'} its own prediction: that alone "
                     f"multiplies the measured ratios by {first_p / first_m:.2f} against the predicted ones")
    if noise is not None:
        lines.append(f"timing scatter: modes with first order's pass count measured up to {noise:.0%} away from it "
                     f"({steps} timed step(s) per mode)")  # fmt: skip
    else:
        lines.append(f"no mode repeats first order's pass count, so this run does not measure its timing scatter "
                     f"({steps} timed step(s) per mode)")  # fmt: skip
    if "second" in measured:
        saved = 1 - first_m / measured["second"]
        lines.append(f"first order saves {saved:.0%} of a second-order step here; Peng reports 'about one-third', "
                     f"a second-order step 1.5x a first-order one")  # fmt: skip
    return lines
