"""The course map of notebook 00: the data flow from a video file to the evaluation table."""

from __future__ import annotations

import graphviz

__all__ = ["FLOW", "course_map"]

# (stage, notebook that builds it)
FLOW: tuple[tuple[str, str], ...] = (
    ("video file", "01"),
    ("segment sampler", "01"),
    ("clip tensor", "01"),
    ("search network", "02-03"),
    ("alphas", "04-05"),
    ("genotype", "06"),
    ("cell drawing", "06"),
    ("derived network", "07"),
    ("retrain", "07"),
    ("evaluation table", "07-08"),
)


def course_map() -> graphviz.Digraph:
    """A left-to-right graph of :data:`FLOW`, each stage labelled with its notebook."""
    dot = graphviz.Digraph("course", graph_attr={"rankdir": "LR"}, node_attr={"shape": "box", "style": "rounded"})
    for i, (stage, nb) in enumerate(FLOW):
        dot.node(str(i), f"{stage}\n(nb {nb})")
        if i:
            dot.edge(str(i - 1), str(i))
    return dot
