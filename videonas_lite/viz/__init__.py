"""Figures and widgets for the notebooks (matplotlib, graphviz, ipywidgets with static fallbacks).

course (notebook 00), sampling (01), operators (02), cells (03: search cells; 06: derived cells), bilevel (04),
records and alphas (05), compare (07), collapse (08).
"""
