"""PV-NAS's false case (Sec. 3.3, Fig. 4), measured on a search's records: does it drift to parameter-free cells?

Notebook 08. Under cosine decay PV-NAS saw its searches settle on cells of identities, pools and Zero; a step
schedule that keeps the learning rate up until the alphas converge avoided it. Zela et al. (2020) saw the
dominant eigenvalue of the alpha Hessian rise before such a collapse (nas/sharpness.py). :func:`collapse_curves`
reads, per epoch of a run's ``records.json``:

* ``free_share``: per cell kind, the share of the derived cell's edges that carry a parameter-free op
  (identity, pools; the derivation never keeps Zero), and ``free_share_all`` over the whole genotype;
* ``free_mass``: per cell kind, the softmax weight on parameter-free ops (Zero not counted), averaged over edges
  (:func:`~videonas_lite.viz.records.parameter_free_mass`): the continuous drift, seen before the discrete one;
* ``entropy``: per cell kind, the mean over edges of the entropy of ``softmax(alpha)`` in nats (``ln |O|`` when
  uniform, 0 when one op holds all the weight);
* ``derived_params``: parameters of the derived network of that epoch's genotype (PV-NAS-L's stack, ``k``);
* ``eigenvalue``: the dominant eigenvalue the search recorded (``--sharpness``), or ``None``;
* ``lr``, ``val_acc``: the weights' learning rate in that epoch and the alpha half's accuracy after it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from videonas_lite.nas.derived import derived_net
from videonas_lite.nas.genotype import Genotype, parameter_free_share
from videonas_lite.viz.records import Records, as_history, load_records, parameter_free_mass

__all__ = ["alpha_entropy", "collapse_curves", "derived_parameters"]


def alpha_entropy(records: Records) -> dict[str, np.ndarray]:
    """Per cell kind and epoch, the mean over edges of the entropy (nats) of each edge's ``softmax(alpha)``."""
    history = as_history(records)
    out = {}
    for kind, w in history.weights.items():
        p = np.clip(w, 1e-12, 1.0)
        out[kind] = -(p * np.log(p)).sum(axis=2).mean(axis=1)
    return out


def derived_parameters(genotype: Genotype, num_classes: int, channels: int | None = None, k: int = 1) -> int:
    """Parameters of ``genotype``'s derived network (nas/derived.py; PV-NAS-L for ``k = 1``)."""
    kwargs = {"k": k} if genotype.space == "pvnas" else {}
    return sum(p.numel() for p in derived_net(genotype, num_classes, channels, **kwargs).parameters())


def collapse_curves(records: Records | str, channels: int | None = 8, k: int = 1) -> dict:
    """The per-epoch series of the module docstring, each a list over the run's epochs."""
    records = load_records(records)
    genotypes = [Genotype.from_record(r["genotype"]) for r in records]
    classes = records[-1]["classes"]
    mass, entropy = parameter_free_mass(records), alpha_entropy(records)
    sharp = [r.get("sharpness", {}).get("eigenvalue") if isinstance(r.get("sharpness"), Mapping) else None
             for r in records]  # fmt: skip
    return {
        "epoch": [r["epoch"] for r in records],
        "lr": [r["lr"] for r in records],
        "val_acc": [r["val_acc"] for r in records],
        "free_share": {kind: [parameter_free_share({kind: g[kind]}) for g in genotypes] for kind in genotypes[0]},
        "free_share_all": [parameter_free_share(g) for g in genotypes],
        "free_mass": {kind: m.tolist() for kind, m in mass.items()},
        "entropy": {kind: e.tolist() for kind, e in entropy.items()},
        "max_entropy": {kind: math.log(len(w[0])) for kind, w in records[-1]["alpha_softmax"].items()},
        "derived_params": [derived_parameters(g, classes, channels, k) for g in genotypes],
        "eigenvalue": sharp,
    }

