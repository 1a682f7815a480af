"""Figures and widgets for the notebooks (matplotlib, graphviz, ipywidgets with static fallbacks).

course (notebook 00), sampling (01), cells (03: search cells; 06: derived cells), records and alphas (05).
"""
