"""Figures and widgets for the notebooks (matplotlib, graphviz, ipywidgets with static fallbacks)."""
